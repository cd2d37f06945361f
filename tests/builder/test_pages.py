"""The list page's actions: new, import, duplicate, delete; each refuses another user's object."""

from django.core.files.uploadedfile import SimpleUploadedFile

from builder.models import Workflow
from builder.services import save_workflow
from tests.conftest import SIMPLE


def test_new_workflow_opens_the_editor(alice_client, alice):
    response = alice_client.post("/workflows/new/", {"name": "fresh"})
    workflow = Workflow.objects.get(owner=alice, name="fresh")
    assert response.status_code == 302 and response["Location"] == f"/workflows/{workflow.pk}/"
    assert workflow.version == 1 and "steps: []" in workflow.yaml


def test_new_workflow_refuses_a_bad_or_taken_name(alice_client, alice):
    # refused, the list comes back by a redirect (a reload posts nothing again) with the reason
    # and the name typed; the server's rule is the engine's, the same as the form's pattern
    for name in ("no spaces", "My.Flow", "Upper", "-dash", "x" * 101):
        response = alice_client.post("/workflows/new/", {"name": name})
        assert response.status_code == 302 and response["Location"] == "/"
        page = alice_client.get("/")
        assert page.status_code == 200 and b"lower-case letters, digits" in page.content
        assert b'data-testid="problems"' in page.content
        assert b'data-testid="problems"' not in alice_client.get("/").content  # said once
    assert not Workflow.objects.filter(owner=alice).exists()
    save_workflow(alice, SIMPLE)
    response = alice_client.post("/workflows/new/", {"name": "simple"})
    page = alice_client.get("/")
    assert b"already have a workflow named" in page.content and b'value="simple"' in page.content
    assert b'pattern="[a-z0-9][a-z0-9_\\-]{0,99}"' in page.content


def test_import_a_yaml_file_names_the_place_of_each_problem(alice_client, alice):
    good = SimpleUploadedFile("simple.yaml", SIMPLE.encode())
    response = alice_client.post("/workflows/import/", {"file": good})
    assert response.status_code == 302 and Workflow.objects.filter(owner=alice, name="simple").exists()
    bad = SimpleUploadedFile("bad.yaml", b"name: bad\nsteps:\n  - id: a\n    uses: nope\n")
    response = alice_client.post("/workflows/import/", {"file": bad})
    assert response.status_code == 302 and response["Location"] == "/"
    page = alice_client.get("/").content
    assert b"bad.yaml:4:" in page and b"steps[0]" in page


def test_duplicate_and_delete(alice_client, alice):
    original = save_workflow(alice, SIMPLE)
    response = alice_client.post(f"/workflows/{original.pk}/duplicate/")
    copy = Workflow.objects.get(owner=alice, name="simple-copy")
    assert response.status_code == 302 and copy.yaml.replace("simple-copy", "simple") == original.yaml
    alice_client.post(f"/workflows/{original.pk}/duplicate/")
    assert Workflow.objects.filter(owner=alice, name="simple-copy-2").exists()
    response = alice_client.post(f"/workflows/{copy.pk}/delete/")
    assert response.status_code == 302 and not Workflow.objects.filter(pk=copy.pk).exists()
    assert alice_client.get(f"/workflows/{copy.pk}/delete/").status_code == 405  # never by a GET


def test_another_users_workflow_is_a_404_for_every_action(client, alice, bob):
    workflow = save_workflow(alice, SIMPLE)
    client.force_login(bob)
    for url in (f"/workflows/{workflow.pk}/", f"/workflows/{workflow.pk}/duplicate/",
                f"/workflows/{workflow.pk}/delete/"):
        method = client.get if url.endswith(f"{workflow.pk}/") else client.post
        assert method(url).status_code == 404, url
    assert Workflow.objects.filter(pk=workflow.pk).exists()
    assert b"simple" not in client.get("/").content
