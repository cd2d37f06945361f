"""The CLI names the run's critical path in one short line and says what held it back
(builder/terminal.py, engine.critical.describe_path)."""

import re
from types import SimpleNamespace

from rich.console import Console

from builder.terminal import print_summary
from tests.builder.test_terminal import manage


def test_runworkflow_prints_the_critical_path_and_the_wait_for_a_slot(tmp_path):
    wf = tmp_path / "slots.yaml"
    wf.write_text("name: slots\nsteps:\n  - {id: first, uses: wait, with: {seconds: 0.05}}\n"
                  "  - id: per_file\n    foreach: [1, 2, 3, 4, 5, 6, 7, 8]\n    concurrency: 4\n"
                  "    steps:\n      - {id: download, uses: wait, with: {seconds: 0.2}}\n"
                  "  - {id: last, uses: wait, with: {seconds: 0.01}}\n")
    out = manage("runworkflow", str(wf))
    assert out.returncode == 0, out.stderr
    assert re.search(r"^  critical path: first → per_file\[\*\]\.download → last$", out.stdout, re.M), out.stdout
    assert re.search(r"^  held back: per_file: 0\.\d s waiting for a slot of 4 — 8 would have saved ~0\.\d s$",
                     out.stdout, re.M), out.stdout


def test_a_long_path_shows_its_ends_and_its_length_in_one_line():
    summary = {"wall_ms": 1000, "work_ms": 1000, "critical_path": [f"s{i}" for i in range(40)],
               "critical_path_cut": 2,
               "held_back": [{"block": "call", "cause": "backoff", "waited_ms": 1200.0, "limit": None,
                              "saving_ms": None, "text": "call: 1.2 s waiting between attempts (retry backoff)"}]}
    console = Console(record=True, width=200)
    print_summary(console, SimpleNamespace(status="succeeded", summary=summary, error=None, outputs=None), {})
    lines = console.export_text().splitlines()
    assert "  critical path (42 steps): s0 → s1 → s2 → … → s37 → s38 → s39" in lines
    assert "  held back: call: 1.2 s waiting between attempts (retry backoff)" in lines


def test_items_and_passes_are_folded_as_the_step_lines_are():
    summary = {"critical_path": ["a", "poll[0].check", "poll[1].check", "poll[2].check", "each[7].get", "b"]}
    console = Console(record=True, width=200)
    print_summary(console, SimpleNamespace(status="succeeded", summary=summary, error=None, outputs=None), {})
    assert "  critical path: a → poll[*].check ×3 → each[*].get → b" in console.export_text().splitlines()


def test_a_summary_without_the_figures_prints_no_path_line():
    """Runs recorded before the critical path existed have no such keys."""
    console = Console(record=True, width=200)
    summary = {"wall_ms": 10, "work_ms": 10}
    print_summary(console, SimpleNamespace(status="succeeded", summary=summary, error=None, outputs=None), {})
    assert "critical path" not in console.export_text() and "held back" not in console.export_text()
