"""Timing of blocks: wall time against the work done inside (the run summary's "saved X s")."""

from __future__ import annotations


class BlockStat:
    """Wall time of a parallel/foreach block against the work done inside it."""

    __slots__ = ("path", "kind", "wall", "work")

    def __init__(self, path: str, kind: str):
        self.path, self.kind, self.wall, self.work = path, kind, 0.0, 0.0

    def as_dict(self) -> dict:
        saved = max(self.work - self.wall, 0.0)
        return {"path": self.path, "kind": self.kind, "wall_ms": round(self.wall * 1000, 3),
                "work_ms": round(self.work * 1000, 3), "saved_ms": round(saved * 1000, 3),
                "text": f"{self.path}: {self.wall:.1f} s for {self.work:.1f} s of work, saved {saved:.1f} s"}
