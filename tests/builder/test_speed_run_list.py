"""The run lists answer summaries (``GET /api/runs/``, ``GET /api/workflows/{id}/runs``): what a
row shows, never a run's inputs, outputs, summary, error or finished_at, so the default page (25
runs) stays under 10 KB of JSON (and a page of 50 under 10 KB gzipped, as browsers ask) whatever
the runs hold; the run's own answer keeps all of it."""

import gzip
import json

import pytest
from django.utils import timezone

from builder.models import Run
from builder.services import create_run

pytestmark = pytest.mark.django_db

SHOWN = {"id", "workflow_id", "workflow", "owner", "version", "status", "mode", "created_at", "started_at",
         "duration_ms", "origin", "origin_detail", "origin_text"}


def test_a_page_of_runs_is_summaries_under_10_kb(alice_client, alice, workflow):
    big = {"rows": ["x" * 100] * 500}
    for _ in range(50):
        run = create_run(workflow, alice, {"n": 3})
        Run.objects.filter(pk=run.pk).update(status="failed", outputs=big, error="e" * 2000, duration_ms=1234.5,
                                             summary={"blocks": [big]}, started_at=timezone.now(),
                                             finished_at=timezone.now())
    response = alice_client.get("/api/runs/")
    rows = response.json()
    assert len(rows) == 25 and len(response.content) < 10 * 1024, len(response.content)  # ~300 bytes a run
    assert response["X-Total-Count"] == "50"
    zipped = alice_client.get("/api/runs/?limit=50", headers={"Accept-Encoding": "gzip"})  # as browsers ask
    assert zipped["Content-Encoding"] == "gzip" and len(zipped.content) < 10 * 1024, len(zipped.content)
    assert len(json.loads(gzip.decompress(zipped.content))) == 50
    assert set(rows[0]) == SHOWN
    assert rows[0]["status"] == "failed" and rows[0]["duration_ms"] == 1234.5 and rows[0]["owner"] == "alice"
    answer = alice_client.get(f"/api/workflows/{workflow.pk}/runs?limit=50")
    assert set(answer.json()[0]) == SHOWN and len(answer.content) < 15 * 1024
    detail = alice_client.get(f"/api/runs/{rows[0]['id']}").json()  # the run itself: everything
    assert detail["outputs"] == big and detail["inputs"] == {"n": 3} and detail["error"] == "e" * 2000
