"""Processes as /proc shows them: CPU time and descendants (tests and benches of killable work)."""

from __future__ import annotations

import os


def cpu_ticks(pid: int) -> int | None:
    """The process's CPU time in clock ticks, or None once it is gone (or a zombie, which runs nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:  # gone (between the open and the read, too)
        return None
    return None if fields[0] in ("Z", "X") else int(fields[11]) + int(fields[12])


def cpu_seconds(pid: int) -> float | None:
    """The process's CPU time in seconds, or None once it is gone."""
    ticks = cpu_ticks(pid)
    return None if ticks is None else ticks / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found
