"""The critical path's words: each wait that held a run back (``held_back``), and the path in
one line for a terminal (``describe_path``), as docs/format.md's "Run figures" says them."""

from __future__ import annotations

import re

from .stats import seconds_text

__all__ = ["describe_path", "describe_wait", "held_back"]

MIN_WAIT = 0.001  # seconds: shorter waits are overhead, not worth a line
SHOWN = 6  # steps of a critical path named in its one line; a longer one shows its ends
_INDEX = re.compile(r"\[\d+\]")


def held_back(waits: dict) -> list[dict]:
    """The waits on the critical path, longest first, each with its words."""
    out = []
    for (block, cause), wait in waits.items():
        if wait.seconds < MIN_WAIT:
            continue
        saving = None if wait.saving is None else round(wait.saving * 1000, 3)
        entry = {"block": block, "cause": cause, "waited_ms": round(wait.seconds * 1000, 3),
                 "limit": wait.limit, "saving_ms": saving}
        entry["text"] = describe_wait(entry, wait.target, wait.count)
        out.append(entry)
    out.sort(key=lambda e: -e["waited_ms"])
    return out


def describe_wait(entry: dict, target=None, count: int = 1) -> str:
    """``per_file: 2.1 s waiting for a slot of 4 — 8 would have saved ~1.0 s``."""
    waited = seconds_text(entry["waited_ms"] / 1000)
    limit, saving = entry.get("limit"), entry.get("saving_ms")
    head = f"{entry['block']}: {waited}"
    if entry["cause"] == "backoff":
        tries = f", {count} retries" if count > 1 else ""
        return f"{head} waiting between attempts (retry backoff{tries})"
    if entry["cause"] == "rate":
        what = f"waiting for a rate limit of {_num(limit)}/s" if limit else "waiting for a rate limit"
        other = f"{_num(target)}/s" if target else "twice the rate"
    else:
        what = f"waiting for a slot of {_num(limit)}" if limit else "waiting for a slot"
        other = _num(target) if target else "twice as many"
    if saving is None:
        if limit is None:
            return f"{head} {what}"
        return f"{head} {what} — no estimate: its items' own time does not explain it (something else held them)"
    if saving < 1:
        return f"{head} {what} — {other} would have saved nothing (its longest part sets its time)"
    return f"{head} {what} — {other} would have saved ~{seconds_text(saving / 1000)}"


def describe_path(summary: dict) -> list[str]:
    """The critical path in one short line (``critical path: a → per_file[*].get → poll[*].check ×3
    → b``: items and passes folded as the terminal folds them, a long path by its ends and its
    length), then one line per wait that held it back."""
    chain = []
    for path in summary.get("critical_path") or []:
        shown = _INDEX.sub("[*]", path)
        if chain and chain[-1][0] == shown:
            chain[-1][1] += 1
        else:
            chain.append([shown, 1])
    chain = [path if times == 1 else f"{path} ×{times}" for path, times in chain]
    lines = []
    if chain:
        total = len(chain) + (summary.get("critical_path_cut") or 0)
        shown = chain if total <= SHOWN else [*chain[:SHOWN // 2], "…", *chain[-(SHOWN // 2):]]
        count = f" ({total} steps)" if total > SHOWN else ""
        lines.append(f"critical path{count}: " + " → ".join(shown))
    for entry in summary.get("held_back") or []:
        lines.append("held back: " + entry.get("text", ""))
    return lines


def _num(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
