"""The runworkflow and validateworkflow commands, run as a person runs them."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from examples.fake_llm import FakeLLM

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml") if p.stem != "url_batch")  # needs a server


FAKE = FakeLLM()  # the examples' model
# never the developer's database: these runs are not recorded (the last test records into its own)
ENV = {**os.environ, "SQLITE_PATH": "/nonexistent/db.sqlite3", "WORKFLOW_CLI_USER": "nobody",
       "WORKFLOW_LLM_BASE_URL": FAKE.base_url}


def manage(*args, stdin=None):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, input=stdin, env=ENV)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_runworkflow_json_for_every_example(path):
    # an approval waits for a person (only a recorded run can: here there is no database): take
    # the example's path that needs none
    extra = ["--input", "kind=news"] if path.stem == "publish_with_approval" else []
    out = manage("runworkflow", str(path.relative_to(ROOT)), "--json", *extra)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["status"] == "succeeded" and data["duration_ms"] > 0
    assert set(data) >= {"status", "outputs", "duration_ms", "steps", "origin"} and data["origin"] == "command line"
    for step in data["steps"].values():
        assert set(step) == {"status", "attempts", "started_at", "finished_at", "duration_ms", "error"}


def test_json_step_paths_include_foreach_items(tmp_path):
    out = manage("runworkflow", "examples/batch.yaml", "--json")
    steps = json.loads(out.stdout)["steps"]
    assert steps["per_record[3].scored"]["status"] == "succeeded"
    assert steps["per_record[3].scored"]["attempts"] == 1


def test_failed_run_exits_1_with_the_error(tmp_path):
    wf = tmp_path / "fails.yaml"
    wf.write_text("name: f\nsteps:\n  - {id: a, uses: fail, with: {message: stop here}}\n")
    out = manage("runworkflow", str(wf), "--json")
    assert out.returncode == 1
    data = json.loads(out.stdout)
    assert data["status"] == "failed" and data["steps"]["a"]["error"] == "stop here"
    plain = manage("runworkflow", str(wf))
    assert plain.returncode == 1 and "stop here" in plain.stdout


def test_invalid_file_exits_2_with_positions_on_stderr(tmp_path):
    wf = tmp_path / "bad.yaml"
    wf.write_text("name: b\nsteps:\n  - {id: a, uses: wiat, with: {seconds: 1}}\n  - {id: b, uses: wait}\n")
    out = manage("runworkflow", str(wf))
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert f"{wf}:3:13: steps[0].uses (step a): unknown action 'wiat' (did you mean 'wait'?)" in lines
    assert any(line.startswith(f"{wf}:4:") and "missing parameter 'seconds'" in line for line in lines)
    assert "Traceback" not in out.stderr


def test_missing_file_and_malformed_yaml_exit_2_without_traceback(tmp_path):
    out = manage("runworkflow", str(tmp_path / "nope.yaml"))
    assert out.returncode == 2 and "cannot read the file" in out.stderr and "Traceback" not in out.stderr
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: x\nsteps: [\n")
    out = manage("runworkflow", str(bad))
    assert out.returncode == 2 and f"{bad}:3:1: invalid YAML" in out.stderr


def test_inputs_from_flags_and_json_file_are_typed_and_checked(tmp_path):
    wf = tmp_path / "in.yaml"
    wf.write_text("name: i\ninputs:\n  n: integer\n  who: {type: string, default: you}\n"
                  "steps:\n  - {id: a, uses: wait, with: {seconds: 0, value: '${inputs.who} x ${inputs.n * 2}'}}\n")
    out = manage("runworkflow", str(wf), "--input", "n=21", "--input", "who=me", "--json")
    assert json.loads(out.stdout)["outputs"] == {"a": "me x 42"}
    inputs = tmp_path / "inputs.json"
    inputs.write_text('{"n": 2}')
    out = manage("runworkflow", str(wf), "--inputs-json", str(inputs), "--json")
    assert json.loads(out.stdout)["outputs"] == {"a": "you x 4"}
    out = manage("runworkflow", str(wf), "--input", "n=lots")
    assert out.returncode == 2 and f"{wf}:3:3: inputs.n: input 'n' must be of type integer" in out.stderr
    out = manage("runworkflow", str(wf))
    assert out.returncode == 2 and "missing required input 'n'" in out.stderr


def test_plain_output_shows_steps_and_the_parallel_figures():
    out = manage("runworkflow", "examples/fan_out_fan_in.yaml")
    assert out.returncode == 0
    assert "✓ analyses.stats" in out.stdout and "from parallel branches" in out.stdout
    assert "saved" in out.stdout


def test_validateworkflow_reports_every_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\nsteps:\n  - {id: a, uses: wait, with: {seconds: 1, value: '${nope}'}}\n")
    out = manage("validateworkflow", "examples/dag.yaml", str(bad))
    assert out.returncode == 2
    assert "examples/dag.yaml: ok" in out.stdout
    assert f"{bad}:3:51: steps[0].with.value (step a): unknown reference 'nope'" in out.stderr
    out = manage("validateworkflow", "--json", str(bad))
    report = json.loads(out.stdout)
    assert report[str(bad)][0] == {"line": 3, "column": 51, "path": "steps[0].with.value",
                                   "message": "unknown reference 'nope'", "step_path": "a"}


def test_runworkflow_records_the_run_for_the_browser(tmp_path, new_database):
    env = {**ENV, **new_database(tmp_path)}

    def run(*args):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)

    run("migrate", "-v0")
    run("shell", "-c", "from django.contrib.auth.models import User; User.objects.create_user('cli')")
    out = run("runworkflow", "examples/dag.yaml", "--user", "cli")
    assert out.returncode == 0 and "recorded as run #1" in out.stdout
    check = run("shell", "-v", "0", "-c", "from builder.models import Run; r = Run.objects.get(); "
                "print(r.status, r.mode, r.workflow.name, r.steps.count(), r.events.count())")
    assert check.stdout.split() == ["succeeded", "cli", "dag", "5", "12"]
    recorded = run("runworkflow", "examples/dag.yaml", "--user", "cli", "--json")
    data = json.loads(recorded.stdout)
    assert data["run"] == 2 and data["origin"] == "command line"
    unrecorded = run("runworkflow", "examples/dag.yaml", "--user", "nobody", "--json")
    assert unrecorded.returncode == 0 and "not recorded: no user 'nobody'" in unrecorded.stderr
