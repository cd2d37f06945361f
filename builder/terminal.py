"""Live per-branch progress in the terminal (rich), and the plain summary after a run."""

from __future__ import annotations

import json
import re
import time

from rich.console import Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from engine.critical_text import describe_path
from engine.stats import describe_block, describe_run

MARKS = {"pending": ("○", "grey50"), "running": ("◐", "blue"), "retrying": ("↻", "yellow"),
         "succeeded": ("✓", "green"), "failed": ("✕", "red"), "skipped": ("–", "grey50"),
         "cancelled": ("⊘", "grey35"), "queued": ("○", "grey50"), "interrupted": ("⊘", "grey35"),
         "waiting": ("◷", "magenta"), "compensated": ("↶", "cyan")}
MAX_ROWS = 40
_INDEX = re.compile(r"\[\d+\]")  # a foreach item's or a repeat pass's index
MAX_OUTPUT_CHARS = 3000


def mark(status: str) -> Text:
    symbol, style = MARKS.get(status, ("?", ""))
    return Text(symbol, style=style)


def figures(summary: dict) -> str:
    """"ran in 4.1 s; 9.0 s of work; 2.2× from parallel branches" (engine.stats: a speed-up only
    above 1.0, named for what overlapped)."""
    return describe_run(summary)


class LiveProgress:
    """A sink that draws every non-item step and a bar per foreach while the run goes on."""

    def __init__(self, console):
        self.console = console
        self.rows: dict[str, dict] = {}
        self.bars: dict[str, dict] = {}
        self.live = Live(get_renderable=self.render, console=console, refresh_per_second=8, transient=False)
        self.started = time.monotonic()

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        self.live.__exit__(*exc)

    def emit(self, event) -> None:
        kind = event.type
        if kind == "foreach.progress":
            self.bars[event.path] = {"done": event.done, "failed": event.failed, "total": event.total,
                                     "running": event.running}
            return
        path = getattr(event, "path", None)
        if path is None or "[" in path or kind == "log":
            return
        row = self.rows.setdefault(path, {"status": "pending", "attempt": 0, "started": None, "ms": None})
        if kind == "step.started":
            row.update(status="running", attempt=event.attempt, started=time.monotonic())
        elif kind == "step.retrying":
            row["status"] = "retrying"
        elif kind.startswith("step."):
            row["status"] = kind.split(".")[1]
            row["ms"] = getattr(event, "duration_ms", None)

    def render(self):
        table = Table.grid(padding=(0, 1))
        table.add_column(width=1)
        table.add_column()
        table.add_column(justify="right")
        table.add_column()
        rows = list(self.rows.items())
        hidden = len(rows) - MAX_ROWS
        if hidden > 0:
            active = [r for r in rows if r[1]["status"] in ("running", "retrying")]
            rows = (active + [r for r in rows if r not in active])[:MAX_ROWS]
        for path, row in rows:
            bar = self.bars.get(path)
            extra = Text("")
            if bar:
                extra = Text.assemble(
                    f"{bar['done'] + bar['failed']}/{bar['total']}",
                    (f" ✕{bar['failed']}" if bar["failed"] else "", "red"),
                )
            seconds = (row["ms"] / 1000 if row["ms"] is not None
                       else (time.monotonic() - row["started"] if row["started"] else 0))
            retry = f" (attempt {row['attempt']})" if row["attempt"] > 1 else ""
            table.add_row(mark(row["status"]), Text(path + retry), f"{seconds:.1f}s", extra)
            if bar and bar["total"]:
                table.add_row("", ProgressBar(total=bar["total"], completed=bar["done"] + bar["failed"], width=40),
                              "", "")
        parts = [table]
        if hidden > 0:
            parts.append(Text(f"… and {hidden} more steps", style="grey50"))
        return Group(*parts)


def print_summary(console, result, table: dict, shown_live: bool = False) -> None:
    """The steps (foreach items and repeat passes folded into one line per step, ``each[*].book``
    with a count per status; only failures when the live view showed them already), the
    figures and the outputs after a run, for a person."""
    folded: dict[str, dict[str, int]] = {}
    for path, row in table.items():
        if "[" in path:
            counts = folded.setdefault(_INDEX.sub("[*]", path), {})
            counts[row["status"]] = counts.get(row["status"], 0) + 1
    for path, row in table.items():
        if "[" in path:
            counts = folded.pop(_INDEX.sub("[*]", path), None)
            if counts is not None:  # where the step first shows: one line for all its copies
                line = Text.assemble("  ", _INDEX.sub("[*]", path), " ")
                for status, count in sorted(counts.items(), key=lambda kv: -kv[1]):
                    line.append_text(mark(status))
                    line.append(f"{count} ")
                console.print(line)
            if row["status"] != "failed" or not row["error"]:
                continue
        if shown_live and row["status"] != "failed":
            continue
        ms = row["duration_ms"]
        line = Text.assemble(mark(row["status"]), " ", path, (f"  {ms / 1000:.2f}s" if ms is not None else "", "grey50"))
        if row["attempts"] > 1:
            line.append(f"  {row['attempts']} attempts", style="yellow")
        if row["error"] and row["status"] == "failed":
            line.append(f"  {row['error']}", style="red")
        console.print(line)
    style = {"succeeded": "green", "failed": "red"}.get(result.status, "grey50")
    console.print(Text.assemble((result.status, f"bold {style}"), " · ", figures(result.summary)))
    for block in result.summary.get("blocks", []):
        console.print(Text("  " + describe_block(block), style="grey50"))  # worded again: stored text may be old
    for line in describe_path(result.summary):  # the chain that set the wall time, and what held it
        console.print(Text("  " + line, style="grey50"))
    if result.error:
        console.print(Text(result.error, style="red"))
    if result.outputs is not None:
        text = json.dumps(result.outputs, default=str, indent=2)
        if len(text) <= MAX_OUTPUT_CHARS:
            console.print_json(text)
        else:
            compact = json.dumps(result.outputs, default=str)
            console.print(Text(compact[:MAX_OUTPUT_CHARS] + f" … ({len(compact)} characters; --json prints all)"))
