"""bench/compare.py runs: its smoke run (``--quick``) prints the table of the three workloads
through bare asyncio, PocketFlow and our engine (the figures themselves are not checked: speed
is measured by the benchmark, never by a test)."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_quick_comparison_prints_its_table():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "compare.py"), "--quick"],
                         capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    header = next(line for line in lines if line.startswith("workload"))
    for column in ("asyncio", "asyncio+task", "pocketflow", "ours", "ours/pf", "ours/aio"):
        assert column in header.split()
    rows = [line for line in lines if line.startswith(("W1", "W2", "W3"))]
    assert [row[:2] for row in rows] == ["W1", "W2", "W3"]
    for row in rows:  # every figure is a number (W1 and W2 have no Task-a-step column)
        cells = row.split()[-6:]
        assert all(cell == "-" or float(cell) == float(cell) for cell in cells), row
    assert any(line.startswith("flatness") for line in lines)
