"""A skill's history: who changed it and when, a diff of config and schemas, and restore."""

import pytest
from django.test import Client

from builder.models import Skill, SkillChange
from builder.services import save_workflow

from .skills_admin_kit import USES_SHOUT, form_data, make_shout, staff_client  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def edited(staff_client):
    """A skill created, then its config and schema changed, in the admin."""
    staff_client.post("/admin/builder/skill/add/", form_data())
    skill = Skill.objects.get()
    schema = {"type": "object", "properties": {"text": {"type": "string"}, "times": {"type": "integer"}},
              "required": ["text"]}
    response = staff_client.post(f"/admin/builder/skill/{skill.pk}/change/", form_data(
        skill, title="Shout twice", input_schema=schema,
        config={"function": "engine.functions.text:upper", "args": ["${inputs.text} ${inputs.times}"]}))
    assert response.status_code == 302
    skill.refresh_from_db()
    return skill


def test_the_history_shows_who_when_and_a_diff(staff_client, edited):
    page = staff_client.get(f"/admin/builder/skill/{edited.pk}/history/").content.decode()
    assert page.count('data-testid="change"') == 2
    assert "by sam" in page and 'data-kind="changed"' in page and 'data-kind="created"' in page
    assert '<span class="diff-del">-    &quot;${inputs.text}&quot;</span>' in page
    assert '<span class="diff-add">+    &quot;${inputs.text} ${inputs.times}&quot;</span>' in page
    assert '<span class="diff-add">+    &quot;times&quot;: {</span>' in page
    assert "<del>Shout</del> → <ins>Shout twice</ins>" in page
    assert page.count('data-testid="restore-link"') == 1  # not for the state it is in


def test_restore_shows_the_change_then_restores_and_records_it(staff_client, edited):
    created = SkillChange.objects.get(kind="created")
    url = f"/admin/builder/skill/{edited.pk}/history/{created.pk}/restore/"
    page = staff_client.get(url).content.decode()
    assert "<del>Shout twice</del> → <ins>Shout</ins>" in page and 'data-testid="restore"' in page
    response = staff_client.post(url)
    assert response.status_code == 302
    edited.refresh_from_db()
    assert edited.title == "Shout" and edited.config["args"] == ["${inputs.text}"]
    assert "times" not in edited.input_schema["properties"]
    restored = SkillChange.objects.order_by("id").last()
    assert restored.kind == "restored" and restored.user.username == "sam" and restored.after == created.after


def test_a_restore_that_breaks_workflows_asks_first(staff_client, edited, alice):
    # the workflow uses `times`, which the first state does not declare
    save_workflow(alice, USES_SHOUT.replace("{text: hello}", "{text: hello, times: 2}"))
    created = SkillChange.objects.get(kind="created")
    url = f"/admin/builder/skill/{edited.pk}/history/{created.pk}/restore/"
    page = staff_client.get(url).content.decode()
    assert "This would break 1 workflow of 1 owner" in page
    assert staff_client.post(url).status_code == 409
    edited.refresh_from_db()
    assert edited.title == "Shout twice"
    fingerprint = page.split('name="confirm_breaking" value="')[1].split('"')[0]
    assert staff_client.post(url, {"confirm_breaking": fingerprint}).status_code == 302
    edited.refresh_from_db()
    assert edited.title == "Shout"


def test_a_state_that_is_no_longer_valid_is_not_restored(staff_client, edited):
    created = SkillChange.objects.get(kind="created")
    make_shout(name="other")
    Skill.objects.filter(pk=edited.pk).update(name="renamed")
    Skill.objects.filter(name="other").update(name="shout")  # someone else has the old name now
    url = f"/admin/builder/skill/{edited.pk}/history/{created.pk}/restore/"
    response = staff_client.post(url)
    assert response.status_code == 400
    assert "another skill is named &#x27;shout&#x27; now" in response.content.decode()
    assert Skill.objects.get(pk=edited.pk).name == "renamed"


def test_another_skills_change_or_a_missing_one_is_404(staff_client, edited):
    other = make_shout(name="other")
    created = SkillChange.objects.get(kind="created")
    assert staff_client.get(f"/admin/builder/skill/{other.pk}/history/{created.pk}/restore/").status_code == 404
    assert staff_client.get(f"/admin/builder/skill/{edited.pk}/history/99999/restore/").status_code == 404
    assert staff_client.get(f"/admin/builder/skill/{edited.pk}/history/x/restore/").status_code == 404
    assert staff_client.get("/admin/builder/skill/99999/history/").status_code == 404


def test_history_and_restore_are_for_staff_only(client, alice, edited):
    created = SkillChange.objects.get(kind="created")
    client.force_login(alice)
    for url in (f"/admin/builder/skill/{edited.pk}/history/",
                f"/admin/builder/skill/{edited.pk}/history/{created.pk}/restore/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
        response = client.post(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert Skill.objects.get().title == "Shout twice"


def test_restore_needs_the_csrf_token(staff, edited):
    created = SkillChange.objects.get(kind="created")
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.post(f"/admin/builder/skill/{edited.pk}/history/{created.pk}/restore/").status_code == 403
    assert Skill.objects.get().title == "Shout twice"


def test_enable_and_disable_are_in_the_history(staff_client):
    skill = make_shout()
    staff_client.post("/admin/builder/skill/", {"action": "disable", "_selected_action": [skill.pk]})
    staff_client.post("/admin/builder/skill/", {"action": "enable", "_selected_action": [skill.pk]})
    assert list(SkillChange.objects.order_by("id").values_list("kind", flat=True)) == ["disabled", "enabled"]


def test_a_deleted_skill_comes_back_with_its_history(staff_client, edited):
    staff_client.post(f"/admin/builder/skill/{edited.pk}/delete/", {"post": "yes"})
    assert not Skill.objects.exists()
    page = staff_client.get("/admin/builder/skill/deleted/").content.decode()
    assert 'data-name="shout"' in page and "deleted by sam" in page
    deletion = SkillChange.objects.get(kind="deleted")
    response = staff_client.post("/admin/builder/skill/deleted/", {"change": deletion.pk})
    assert response.status_code == 302
    skill = Skill.objects.get()
    assert skill.title == "Shout twice" and "times" in skill.input_schema["properties"]
    kinds = list(skill.changes.order_by("id").values_list("kind", flat=True))
    assert kinds == ["created", "changed", "deleted", "restored"]
    assert 'data-name="shout"' not in staff_client.get("/admin/builder/skill/deleted/").content.decode()
    assert staff_client.post("/admin/builder/skill/deleted/", {"change": deletion.pk}).status_code == 404


def test_deleted_skills_are_for_staff_with_the_csrf_token(client, alice, staff, edited):
    client.force_login(alice)
    response = client.post("/admin/builder/skill/deleted/", {"change": "1"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)
    assert strict.post("/admin/builder/skill/deleted/", {"change": "1"}).status_code == 403
    assert staff.is_staff and Skill.objects.count() == 1


@pytest.mark.parametrize("tail", ["9" * 30 + "/history/", "1/history/" + "9" * 30 + "/restore/", "9" * 30 + "/try/",
                                  "9" * 30 + "/delete/", "\u0663/history/"])
def test_huge_or_odd_ids_are_404_not_500(staff_client, edited, tail):
    assert staff_client.get(f"/admin/builder/skill/{tail}").status_code in (302, 404)
