"""Versions are saved only when the text changed, and a newer edit is never replaced silently:
``make run`` (loaddemo) again and again, and ``runworkflow`` of the same file (issue 14)."""

import io
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from builder.models import Skill, Workflow
from builder.services import save_workflow
from tests.builder.test_cli import ENV, ROOT

pytestmark = pytest.mark.django_db


def loaddemo(*args) -> str:
    out = io.StringIO()
    call_command("loaddemo", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def versions() -> dict[str, int]:
    return {wf.name: wf.versions.count() for wf in Workflow.objects.all()}


def test_loading_the_demo_again_saves_no_new_version():
    loaddemo()
    first = versions()
    assert first and set(first.values()) == {1}
    loaddemo()
    loaddemo()
    assert versions() == first


def test_a_browser_edit_is_kept_and_named_and_reset_loads_the_file_over_it():
    loaddemo()
    demo = User.objects.get(username="demo")
    dag = Workflow.objects.get(name="dag")
    edited = dag.yaml.replace("title:", "# my note\ntitle:", 1)
    save_workflow(demo, edited, "saved in the editor", dag)
    out = loaddemo()
    dag.refresh_from_db()
    assert dag.yaml == edited and dag.version == 2
    assert "Kept your edits of dag (v2)" in out and "--reset" in out
    loaddemo("--reset")
    dag.refresh_from_db()
    assert dag.version == 3 and "# my note" not in dag.yaml
    assert dag.versions.get(number=2).yaml == edited  # the edit stays in the history


def test_an_example_file_that_changed_updates_a_workflow_nobody_edited(settings, tmp_path):
    loaddemo()
    dag = Workflow.objects.get(name="dag")
    # the file as a newer checkout has it: a version saved by loaddemo is the example's own
    demo = User.objects.get(username="demo")
    save_workflow(demo, dag.yaml.replace("title:", "# older file\ntitle:", 1), "loaded from examples/dag.yaml", dag)
    loaddemo()
    dag.refresh_from_db()
    assert "# older file" not in dag.yaml and dag.version == 3


def test_a_skill_edited_in_the_admin_is_kept_unless_reset():
    loaddemo()
    skill = Skill.objects.get(name="count_words")
    skill.title = "Count the words (ours)"
    skill.save()
    out = loaddemo()
    skill.refresh_from_db()
    assert skill.title == "Count the words (ours)"
    assert "Kept the skills count_words as edited in the admin" in out
    loaddemo("--reset")
    skill.refresh_from_db()
    assert skill.title != "Count the words (ours)"
    Skill.objects.get(name="pause").delete()
    loaddemo()
    assert Skill.objects.filter(name="pause").exists()  # a missing example skill comes back


def test_runworkflow_of_the_same_file_saves_one_version_and_says_when_it_replaces_an_edit(tmp_path, new_database):
    env = {**ENV, **new_database(tmp_path)}

    def run(*args):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)

    wf = tmp_path / "twice.yaml"
    wf.write_text("name: twice\nsteps:\n  - {id: a, uses: wait, with: {seconds: 0}}\n")
    run("migrate", "-v0")
    run("shell", "-c", "from django.contrib.auth.models import User; User.objects.create_user('cli')")
    for _ in range(2):
        assert run("runworkflow", str(wf), "--user", "cli").returncode == 0
    count = "from builder.models import Workflow; w = Workflow.objects.get(); print(w.version, w.runs.count())"
    assert run("shell", "-v", "0", "-c", count).stdout.split() == ["1", "2"]
    run("shell", "-c", "from builder.models import Workflow; from builder.services import save_workflow; "
        "w = Workflow.objects.get(); save_workflow(w.owner, w.yaml + '# browser\\n', 'saved in the editor', w)")
    out = run("runworkflow", str(wf), "--user", "cli")
    assert out.returncode == 0
    assert "note: 'twice' had a newer edit (v2, saved by cli: saved in the editor)" in out.stderr
    assert "v2 stays in the history" in out.stderr
    assert run("shell", "-v", "0", "-c", count).stdout.split() == ["3", "3"]
