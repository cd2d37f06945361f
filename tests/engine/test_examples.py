"""Every example in examples/ validates, runs offline, and gives the outputs it promises."""

import pathlib
import time

import pytest

import engine
from examples.fake_llm import FakeLLM

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
FAKE = FakeLLM()  # the project's fake OpenAI-compatible server, on a loopback port
SETTINGS = engine.EngineSettings(
    python_allowed=("examples.functions.*", "engine.functions.*"),
    extra={"sql_connections": {"examples": {"url": f"sqlite:///{EXAMPLES / 'data' / 'sales.sqlite3'}"}},
           "llm_connections": {"default": {"base_url": FAKE.base_url, "model": "fake-1"}},
           "http_allow": ("127.0.0.1",)})


async def saved(name, version):
    """The examples folder as the saved workflows of ``workflow`` steps."""
    for path in EXAMPLES.glob("*.yaml"):
        text = path.read_text()
        if f"\nname: {name}\n" in text:
            return text
    return None


async def run_example(name: str, inputs=None):
    path = EXAMPLES / f"{name}.yaml"
    workflow = engine.load(path.read_text(), str(path), settings=SETTINGS)
    runner = engine.Runner(settings=SETTINGS, services={"workflows": saved})
    sink = engine.ListSink()
    start = time.perf_counter()
    result = await runner.run(engine.plan(workflow), inputs, sink)
    runner.close()
    assert result.status == "succeeded", result.error
    return result, time.perf_counter() - start


def test_every_example_is_valid():
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 6
    for path in files:
        assert engine.validate(path.read_text(), str(path), settings=SETTINGS) == [], path


async def test_fan_out_fan_in_runs_the_three_analyses_at_once():
    result, wall = await run_example("fan_out_fan_in", {"text": "One two. Three four five!"})
    report = result.outputs["report"]
    assert report["stats"] == {"words": 5, "sentences": 2, "characters": 25}
    assert report["summary"] == "One two."
    assert report["chart"][0].startswith(" 3 ")
    assert result.outputs["words"] == 5
    assert wall < 0.5, "three 0.2 s analyses overlap"


async def test_batch_respects_its_cap_and_keeps_order():
    result, wall = await run_example("batch")
    names = [r["name"] for r in result.outputs["records"]]
    assert names == ["Ada", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Guido"]
    assert [r["position"] for r in result.outputs["records"]] == list(range(8))
    assert result.outputs["count"] == 8 and result.outputs["average_score"] == 8.0
    assert 0.09 < wall < 0.5, "8 items of 0.05 s, 4 at a time: two rounds"


async def test_parallel_batches():
    result, _ = await run_example("parallel_batches")
    assert result.outputs["all"] == [1, 4, 9, 16, 25, 36, 5.0, 10.0, 15.0, 20.0]
    assert result.outputs["counts"] == {"small": 6, "large": 4}


async def test_nested_parallel():
    result, wall = await run_example("nested_parallel")
    assert result.outputs["result"] == {"inner_a": "prepared-a", "inner_b": "prepared-b", "right": "right"}
    assert wall < 0.3


async def test_dag():
    result, _ = await run_example("dag")
    assert result.outputs == {"loaded": {"average": 2.0, "count": 3}, "audit": "audited 3 rows"}


async def test_quorum_two_of_three():
    result, _ = await run_example("quorum")
    assert result.outputs["answered"]["south"] is None
    assert result.outputs["price"] == pytest.approx((107.5 + 106.0) / 2)


async def test_sales_pipeline_queries_both_tables_then_computes_profit():
    result, _ = await run_example("sales_pipeline")
    report = result.outputs["report"]
    regions = report["by_region"]
    assert [r["region"] for r in regions] and len(regions) == report["regions"] == 4
    assert all(r["profit"] == round(r["sales"] - r["costs"], 2) for r in regions)
    assert [r["profit"] for r in regions] == sorted((r["profit"] for r in regions), reverse=True)
    assert report["total_profit"] == round(sum(r["profit"] for r in regions), 2)
    late, _ = await run_example("sales_pipeline", {"start": "2025-03-01"})
    assert late.outputs["report"]["total_profit"] != report["total_profit"]


async def test_document_analysis_asks_three_questions_at_once():
    result, _ = await run_example("document_analysis")
    report = result.outputs["report"]
    assert report["label"] in ("bug", "feature", "question")
    assert report["summary"].startswith("Summary: Summarize in one sentence")
    assert isinstance(report["facts"], list) and report["words"] > 10
    assert result.summary["tokens"]["prompt_tokens"] > 30


async def test_document_quorum_completes_with_two_of_three():
    result, _ = await run_example("document_quorum")
    report = result.outputs["report"]
    assert report["translation"] is None and report["mood"] in ("up", "down", "mixed")
    assert result.outputs["tokens_used"] > 0


async def test_sub_workflow_runs_two_saved_workflows_side_by_side():
    result, _ = await run_example("sub_workflow")
    assert result.outputs["summary"]["average_score"] == 8.0
    assert result.outputs["summary"]["total_profit"] > 0


async def test_url_batch_fetches_200_urls_in_order_within_its_limits():
    from tests.engine.actions.servers import LocalServer

    server = LocalServer()
    try:
        result, wall = await run_example("url_batch", {"base": server.base})
    finally:
        server.close()
    assert result.outputs["count"] == 200
    assert result.outputs["items"] == [{"id": i} for i in range(200)]
    assert wall >= (200 - 100) / 100 * 0.9, "100 a second with a bucket of 100: at least about a second"


async def test_trip_booking_rolls_back_the_bookings_when_the_car_fails():
    result, _ = await run_example("trip_booking")
    assert result.outputs == {"itinerary": "Ada: flight F-101, hotel H-7"}
    path = EXAMPLES / "trip_booking.yaml"
    workflow = engine.load(path.read_text(), str(path), settings=SETTINGS)
    sink = engine.ListSink()
    failed = await engine.Runner(settings=SETTINGS).run(engine.plan(workflow), {"no_cars": True}, sink)
    assert failed.status == "failed" and "no cars left for Ada" in failed.error
    assert [e.path for e in sink.of_type("step.compensated")] == ["bookings.hotel", "bookings.flight"]
    told = {e.path: e.output for e in sink.of_type("step.succeeded")}
    assert told["tell_traveller"].startswith("Sorry Ada, ") and told["close_session"] == "session closed (failed)"


async def test_publish_with_approval_waits_then_goes_on_with_the_decision():
    path = EXAMPLES / "publish_with_approval.yaml"
    workflow = engine.load(path.read_text(), str(path), settings=SETTINGS)
    sink = engine.ListSink()
    result = await engine.Runner(settings=SETTINGS).run(engine.plan(workflow), {}, sink, approvals={})
    assert result.status == "waiting"
    completed = {e.path: e.output for e in sink.of_type("step.succeeded")}
    result = await engine.Runner(settings=SETTINGS).run(
        engine.plan(workflow), {}, engine.ListSink(), completed=completed,
        approvals={"route.sign_off": {"approved": True, "by": "demo", "comment": ""}})
    assert result.status == "succeeded", result.error
    assert result.outputs == {"decision": "approved by demo", "live_after_passes": 3}
    result, _ = await run_example("publish_with_approval", {"kind": "other"})
    assert result.outputs["decision"] == "kept as a draft"
