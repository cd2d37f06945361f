"""The CLI's figures (builder/terminal.py): a foreach's gain is never called "from parallel
branches", and a speed-up below 1 is never reported as one."""

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from builder.terminal import figures, print_summary

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "SQLITE_PATH": "/nonexistent/db.sqlite3", "WORKFLOW_CLI_USER": "nobody"}


def manage(*args):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=ENV)


def speedups(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"([\d.]+)×", text)]


def test_a_foreachs_gain_is_named_for_its_items(tmp_path):
    wf = tmp_path / "loop.yaml"
    wf.write_text("name: loop\nsteps:\n  - id: each\n    foreach: [1, 2, 3, 4]\n    concurrency: 4\n"
                  "    steps:\n      - {id: w, uses: wait, with: {seconds: 0.3}}\n")
    out = manage("runworkflow", str(wf))
    assert out.returncode == 0, out.stderr
    assert "from parallel branches" not in out.stdout
    assert re.search(r"[\d.]+× from foreach items", out.stdout), out.stdout
    assert all(x > 1 for x in speedups(out.stdout))
    assert re.search(r"each \(foreach\): [\d.]+ s for [\d.]+ s of work, saved [\d.]+ s across items", out.stdout)


def test_steps_one_after_another_report_no_speedup(tmp_path):
    wf = tmp_path / "seq.yaml"
    wf.write_text("name: seq\nsteps:\n  - {id: a, uses: wait, with: {seconds: 0.1}}\n"
                  "  - {id: b, uses: wait, with: {seconds: 0.1}}\n"
                  "  - id: one\n    foreach: [1, 2]\n    concurrency: 1\n"
                  "    steps:\n      - {id: w, uses: wait, with: {seconds: 0.1}}\n")
    out = manage("runworkflow", str(wf))
    assert out.returncode == 0, out.stderr
    assert speedups(out.stdout) == [], out.stdout
    assert "no speed-up" in out.stdout and "from parallel branches" not in out.stdout


def test_the_summary_never_calls_a_ratio_below_1_a_speedup():
    """Today's code printed "0.8× from parallel branches" for a 5 s run with 4 s of work."""
    summary = {"wall_ms": 5000, "work_ms": 4000, "speedup": 0.8,
               "blocks": [{"path": "loop", "kind": "foreach", "wall_ms": 4000, "work_ms": 4000, "saved_ms": 0,
                           "text": "loop: 4.0 s for 4.0 s of work, saved 0.0 s"}]}
    assert figures(summary) == "ran in 5.0 s; 4.0 s of work; no speed-up: for at least 1.0 s no step was working"
    console = Console(record=True, width=200)
    result = SimpleNamespace(status="succeeded", summary=summary, error=None, outputs=None)
    print_summary(console, result, {})
    text = console.export_text()
    assert "×" not in text and "loop (foreach): 4.0 s for 4.0 s of work, no time saved" in text


def test_the_summary_folds_items_and_passes_into_one_line_per_step_and_shows_new_statuses(tmp_path):
    wf = tmp_path / "shapes.yaml"
    wf.write_text("""name: shapes
on_error: rollback
steps:
  - id: each
    foreach: [1, 2, 3]
    steps:
      - {id: w, uses: wait, with: {seconds: 0}, compensate: [{id: undo, uses: wait, with: {seconds: 0}}]}
  - id: poll
    repeat: {until: "${loop.index == 1}", max: 5}
    steps:
      - {id: check, uses: wait, with: {seconds: 0}}
  - {id: boom, uses: fail, with: {message: "stop here"}}
""")
    out = manage("runworkflow", str(wf))
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    assert "  each[*].w ↶3 " in lines, out.stdout
    assert "  each[*].w.compensate.undo ✓3 " in lines
    assert "  poll[*].check ✓2 " in lines
    assert "✕ boom  0.00s  stop here" in lines
    assert not [line for line in lines if re.search(r"\[\d+\]", line)], "no item or pass line of its own"
