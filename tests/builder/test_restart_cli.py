"""``runworkflow --restart RUN --from-step STEP`` (builder/cli_runs.py): the API's restart,
run in the terminal; refusals are exit code 2 with the reason."""

import json

import pytest
from django.core.management import call_command

from builder.models import Run
from builder.services import create_run, save_workflow

pytestmark = pytest.mark.django_db(transaction=True)

FLOW = """name: three
steps:
  - {id: first, uses: wait, with: {seconds: 0, value: 1}}
  - {id: second, uses: wait, with: {seconds: 0, value: "${first + 1}"}}
  - {id: third, uses: wait, with: {seconds: 0, value: "${second + 1}"}}
"""


def command(*args) -> int:
    with pytest.raises(SystemExit) as exit_:
        call_command("runworkflow", *args)
    return exit_.value.code


def test_cli_restarts_from_a_step_reusing_the_ones_before_it(alice, bob, capsys):
    old = create_run(save_workflow(alice, FLOW), alice, {})
    Run.objects.filter(pk=old.pk).update(status="succeeded")
    old.steps.create(path="first", step_id="first", kind="action", uses="wait", status="succeeded", output=10)
    old.steps.create(path="second", step_id="second", kind="action", uses="wait", status="succeeded", output=11)
    old.steps.create(path="third", step_id="third", kind="action", uses="wait", status="succeeded", output=12)
    assert command("--restart", str(old.pk), "--from-step", "second", "--user", "alice", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["outputs"] == {"first": 10, "second": 11, "third": 12}, "first reused, second and third run again"
    assert data["steps"]["first"]["attempts"] == 0 and data["steps"]["second"]["attempts"] == 1
    assert data["resume"]["from_step"] == "second" and data["resume"]["reused"] == ["first"]
    new = Run.objects.get(pk=data["run"])
    assert (new.mode, new.resumed_from_id, new.origin_detail) == ("cli", old.pk, {"run": old.pk, "from_step": "second"})
    assert command("--restart", str(old.pk), "--from-step", "third", "--user", "alice") == 0
    assert f"restarting run #{old.pk} from third as run #" in capsys.readouterr().out
    assert command("--restart", str(old.pk), "--from-step", "fourth", "--user", "alice") == 2
    assert "the run's version has no step 'fourth'" in capsys.readouterr().err
    assert command("--restart", str(old.pk), "--user", "alice") == 2
    assert "goes with --from-step" in capsys.readouterr().err
    assert command("--restart", str(old.pk), "--from-step", "second", "--user", "bob") == 2
    assert f"no run #{old.pk} of user 'bob'" in capsys.readouterr().err
