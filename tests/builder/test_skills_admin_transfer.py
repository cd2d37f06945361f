"""Skills export and import as one YAML file (the shape of examples/skills/skills.yaml)."""

from pathlib import Path

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from builder.models import Skill, SkillChange
from builder.services import save_workflow

from .skills_admin_kit import SHOUT, USES_SHOUT, make_shout, staff_client  # noqa: F401

pytestmark = pytest.mark.django_db
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "skills" / "skills.yaml"


class Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):  # the tests' entries share dicts: the import refuses aliases
        return True


def dump(entries) -> str:
    return yaml.dump(entries, Dumper=Dumper)


def problems_of(response) -> str:
    """The import page's list of problems, as text."""
    page = response.content.decode().replace("&#x27;", "'").replace("&quot;", '"')
    start = page.find('data-testid="import-problems"')
    return page[start:page.find("</div>", start)] if start >= 0 else "(no problems listed)"


def import_text(client, text: str, **more):
    return client.post("/admin/builder/skill/import/", {"text": text, **more})


def test_the_examples_file_imports_and_exports_back_the_same(staff_client):
    original = yaml.safe_load(EXAMPLES.read_text())
    response = staff_client.post("/admin/builder/skill/import/",
                                 {"file": SimpleUploadedFile("skills.yaml", EXAMPLES.read_bytes())})
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert Skill.objects.count() == len(original)
    assert SkillChange.objects.filter(kind="imported").count() == len(original)
    exported = staff_client.get("/admin/builder/skill/export/")
    assert exported["Content-Disposition"] == 'attachment; filename="skills.yaml"'
    again = yaml.safe_load(exported.content)
    key = lambda s: s["name"]  # noqa: E731
    assert sorted(again, key=key) == sorted(original, key=key)
    assert list(again[0]) == [k for k in ("name", "title", "description", "category", "action", "config",
                                          "input_schema", "output_schema", "concurrency") if k in again[0]]


def test_an_import_updates_skills_of_the_same_name_and_keeps_disabled_ones_disabled(staff_client):
    make_shout(title="Old title")
    text = dump([{**SHOUT, "title": "New title", "enabled": False}])
    assert import_text(staff_client, text).status_code == 302
    skill = Skill.objects.get()
    assert skill.title == "New title" and not skill.enabled
    assert "enabled: false" in staff_client.get("/admin/builder/skill/export/").content.decode()


def test_the_export_action_writes_the_selected_skills(staff_client):
    one, _ = make_shout(), make_shout(name="other")
    response = staff_client.post("/admin/builder/skill/", {"action": "export", "_selected_action": [one.pk]})
    assert [s["name"] for s in yaml.safe_load(response.content)] == ["shout"]


def test_every_problem_is_reported_by_the_skills_name_and_nothing_is_imported(staff_client):
    text = dump([
        {**SHOUT, "name": "good"},
        {**SHOUT, "name": "bad_action", "action": "pyton"},
        {**SHOUT, "name": "bad_input", "config": {"function": "engine.functions.text:upper", "args": ["${inputs.x}"]}},
        {**SHOUT, "name": "Bad.Name"},
        {**SHOUT, "name": "typed", "config": "not a mapping", "concurrency": "many"},
        {**SHOUT, "name": "good"},
        {"title": "no name", "action": "wait"},
        "just text",
        {**SHOUT, "name": "extra", "colour": "red"},
    ])
    response = import_text(staff_client, text)
    assert response.status_code == 400
    page = problems_of(response)
    for message in ["skill 'bad_action': action: unknown action 'pyton' (did you mean 'python'?)",
                    "skill 'bad_input': config: config.args[0]: ${inputs.x} is not declared",
                    "skill 'typed': config must be a mapping", "skill 'typed': concurrency must be a whole number",
                    "skill 'good': named twice in the file (entries 1 and 6)", "entry 7: it has no name",
                    "entry 8: a skill is a mapping", "skill 'extra': unknown keys colour"]:
        assert message in page, message
    assert not Skill.objects.exists()


def test_a_bad_name_in_an_import_says_which_characters_are_allowed(staff_client):
    page = import_text(staff_client, dump([{**SHOUT, "name": "Bad.Name"}])).content.decode()
    assert "skill &#x27;Bad.Name&#x27;: name: Use letters (a-z, A-Z), digits (0-9) and _ only" in page


@pytest.mark.parametrize("text, message", [
    ("a: [1, 2", "not valid YAML: line 2, column 1: did not find expected"),
    ("name: x\naction: wait\n", "a skills file is a list of skills"),
    ("- &a [x, x, x, x]\n- &b [*a, *a, *a, *a]\n- [*b, *b, *b, *b]\n", "aliases (*name) are not accepted"),
    ("- " + "[" * 100 + "]" * 100, "nested deeper than 40 levels"),
    ("- !!python/object/apply:os.system ['echo hi']\n",
     "not valid YAML: line 1, column 3: 'tag:yaml.org,2002:python/object/apply:os.system' is not accepted"),
    ("- {name: x, action: wait, config: {when: 2025-99-99}}\n", "not valid YAML: month must be in 1..12"),
    ("- a\x00b\n", "the NUL character"),
    ("   ", "choose a file or paste the YAML"),
])
def test_hostile_or_broken_yaml_is_reported_clearly(staff_client, text, message):
    response = import_text(staff_client, text)
    assert response.status_code == 400
    assert message in problems_of(response)
    assert not Skill.objects.exists()


def test_a_file_too_big_or_not_utf8_is_refused(staff_client):
    big = SimpleUploadedFile("skills.yaml", b"- " + b"x" * (1 << 20) + b"\n")
    response = staff_client.post("/admin/builder/skill/import/", {"file": big})
    assert response.status_code in (400, 413) and "larger than 1 MB" in response.content.decode()
    latin = SimpleUploadedFile("skills.yaml", "- name: caf\xe9\n".encode("latin-1"))
    response = staff_client.post("/admin/builder/skill/import/", {"file": latin})
    assert response.status_code == 400 and "not UTF-8 text" in response.content.decode()


def test_an_import_that_breaks_workflows_asks_first(staff_client, alice):
    make_shout()
    save_workflow(alice, USES_SHOUT)
    text = dump([{**SHOUT, "enabled": False}])
    response = import_text(staff_client, text)
    page = response.content.decode()
    assert response.status_code == 409 and "This would break 1 workflow of 1 owner" in page
    assert Skill.objects.get().enabled
    fingerprint = page.split('name="confirm_breaking" value="')[1].split('"')[0]
    assert import_text(staff_client, text, confirm_breaking=fingerprint).status_code == 302
    assert not Skill.objects.get().enabled


def test_export_and_import_are_for_staff_only(client, alice):
    client.force_login(alice)
    for url in ("/admin/builder/skill/export/", "/admin/builder/skill/import/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = import_text(client, dump([SHOUT]))
    assert response.status_code == 302 and not Skill.objects.exists()


def test_import_needs_the_csrf_token(staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert import_text(client, dump([SHOUT])).status_code == 403
    assert not Skill.objects.exists()
