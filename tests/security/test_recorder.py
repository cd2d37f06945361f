"""The recorder never drops a batch silently and no run stays running because of its data.

Database failures are real: a trigger on the step table (SQLite's or PostgreSQL's) refuses
rows (always, or only the first time), as a full disk or a refused value would.
"""

import json
import logging
import sqlite3

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from builder import execution
from builder.models import RunEvent, StepRun
from builder.services import create_run, save_workflow
from tests.builder.helpers import finished
from tests.builder.test_consumers import connect, until_finished

pytestmark = pytest.mark.django_db(transaction=True)


def strict(text: str):
    """Parse JSON the way a browser does: NaN and Infinity are errors."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


async def start(user, text, inputs=None):
    workflow = await sync_to_async(save_workflow)(user, text)
    run = await sync_to_async(create_run)(workflow, user, inputs or {})
    return run


NAN_RUN = """name: nan-run
steps:
  - id: shown
    uses: wait
    on_error: continue
    with: {seconds: 0, value: "${[float('inf'), float('-inf'), 2]}"}
  - {id: ok, uses: wait, with: {seconds: 0, value: 1}}
  - {id: bad, uses: wait, with: {seconds: 0, value: "${float('nan')}"}}
"""


def _raw_rows(run_id):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT data FROM {RunEvent._meta.db_table} WHERE run_id = %s", [run_id])
        events = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"SELECT inputs, output FROM {StepRun._meta.db_table} WHERE run_id = %s", [run_id])
        steps = [value for row in cursor.fetchall() for value in row if value is not None]
    return events + steps


async def test_nan_in_a_run_ends_it_failed_with_strict_json_stored_and_streamed(alice):
    run = await start(alice, NAN_RUN)
    ws = await connect(alice, run.pk)
    raw_frames = []
    original = ws.receive_from

    async def receive(timeout=1):  # keep each frame's text as the browser gets it
        text = await original(timeout)
        raw_frames.append(text)
        return text
    ws.receive_from = receive
    await ws.receive_json_from()  # the snapshot
    execution.schedule(run.pk)
    events = await until_finished(ws)
    await ws.disconnect()
    done = await finished(run.pk)
    assert done.status == "failed" and "bad: output is nan, which JSON cannot hold" in done.error
    for text in raw_frames:
        strict(text)
    shown = next(e for e in events if e["type"] == "step.started" and e["path"] == "shown")
    assert shown["inputs"]["value"] == [None, None, 2]
    for text in await sync_to_async(_raw_rows)(run.pk):
        strict(text)
    # a monitor opened afterwards gets a strict snapshot too
    late = await connect(alice, run.pk)
    strict(await late.receive_from())
    await late.disconnect()


def _refuse_rows():
    """Every insert of step b's row fails, as on a full disk."""
    _refuse("NEW.path = 'b'", "database or disk is full")


def _refuse(condition: str, message: str):
    """A trigger that refuses the insert of a step row while ``condition`` holds."""
    table = StepRun._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"""CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                               BEGIN IF {condition} THEN RAISE EXCEPTION '{message}'; END IF; RETURN NEW; END $$""")
            cursor.execute(f"CREATE TRIGGER test_refuse BEFORE INSERT ON {table} FOR EACH ROW "
                           "EXECUTE FUNCTION test_refuse()")
        else:
            cursor.execute(f"""CREATE TRIGGER test_refuse BEFORE INSERT ON {table}
                               WHEN {condition} BEGIN SELECT RAISE(ABORT, '{message}'); END""")


def _drop_triggers():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS test_refuse ON {StepRun._meta.db_table}")
            cursor.execute("DROP FUNCTION IF EXISTS test_refuse()")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS test_refuse")
        cursor.execute("DROP TABLE IF EXISTS test_refusals")


def _other_connection():
    """A new connection to the test database, outside Django (usable from the event loop)."""
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        import psycopg

        return lambda: psycopg.connect(dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"],
                                       port=settings["PORT"] or 5432, password=settings["PASSWORD"] or None,
                                       autocommit=True)
    return lambda: sqlite3.connect(settings["NAME"])


@pytest.fixture
def refusing_database():
    yield _refuse_rows
    _drop_triggers()


SLOW = """name: slow
steps:
  - {id: a, uses: wait, with: {seconds: 0, value: 1}}
  - {id: b, uses: wait, with: {seconds: 0.3, value: 2}}
  - {id: c, uses: wait, with: {seconds: 0.6, value: 3}}
  - {id: d, uses: wait, with: {seconds: 0, value: 4}}
"""


async def test_a_batch_that_cannot_be_stored_ends_the_run_failed_not_running(alice, refusing_database):
    await sync_to_async(refusing_database)()
    run = await start(alice, SLOW)
    ws = await connect(alice, run.pk)
    await ws.receive_json_from()
    execution.schedule(run.pk)
    events = await until_finished(ws, timeout=20)
    await ws.disconnect()
    done = await finished(run.pk, timeout=20)
    assert done.status == "failed"
    assert "could not be stored" in done.error and "database or disk is full" in done.error
    assert events[-1]["type"] == "run.finished" and events[-1]["status"] == "failed"
    assert "could not be stored" in events[-1]["error"]
    # the run was stopped: the step after the refused one never ran to its end
    assert not await StepRun.objects.filter(run=run, path="d", status="succeeded").aexists()


class _ClearOnRetry(logging.Handler):
    """When the recorder says it will try again, the database stops refusing (a passing fault)."""

    def __init__(self, connect):
        super().__init__()
        self.connect = connect
        self.retries = 0

    def emit(self, record):
        if "trying again" in record.getMessage():
            self.retries += 1
            db = self.connect()
            try:
                with db:
                    db.execute("DELETE FROM test_refusals")
            finally:
                db.close()


async def test_a_write_that_fails_once_is_tried_again_and_nothing_is_lost(alice):
    def arm():
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS test_refusals (n INTEGER)")
            cursor.execute("INSERT INTO test_refusals VALUES (1)")
        _refuse("NEW.path = 'b' AND (SELECT COUNT(*) FROM test_refusals) > 0", "database is locked")
        return _other_connection()
    handler = _ClearOnRetry(await sync_to_async(arm)())
    logger = logging.getLogger("builder.recorder")
    logger.addHandler(handler)
    try:
        run = await start(alice, SLOW)
        execution.schedule(run.pk)
        done = await finished(run.pk, timeout=20)
    finally:
        logger.removeHandler(handler)
        await sync_to_async(_drop_triggers)()
    assert handler.retries == 1
    assert done.status == "succeeded", done.error
    paths = {p async for p in StepRun.objects.filter(run=run).values_list("path", flat=True)}
    assert paths == {"a", "b", "c", "d"}
    seqs = [s async for s in RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True)]
    assert seqs == list(range(1, seqs[-1] + 1)), "every event stored, none twice"


NUL = r'''name: nul
outputs: {a: "${a}", note: "x\0y"}
steps:
  - {id: a, name: "the\0name", uses: wait, with: {seconds: 0, value: {"k\0ey": "a\0b"}}}
  - {id: b, uses: fail, with: {message: "bad\0thing"}}
'''

NUL_OK = NUL.replace("  - {id: b, uses: fail, with: {message: \"bad\\0thing\"}}\n", "").replace("name: nul", "name: nul_ok")


async def test_the_nul_character_in_step_data_is_stored_on_every_database(alice):
    """PostgreSQL's text and JSON refuse NUL: it becomes U+FFFD in outputs, keys and errors,
    and the run ends as it should (failed at b), not with "events could not be stored"."""
    run = await start(alice, NUL)
    await execution.execute(run.pk)
    done = await finished(run.pk, timeout=20)
    assert done.status == "failed" and "bad\ufffdthing" in done.error and "could not be stored" not in done.error
    a = await StepRun.objects.aget(run=run, path="a")
    assert a.output == {"k\ufffdey": "a\ufffdb"}
    b = await StepRun.objects.aget(run=run, path="b")
    assert b.status == "failed" and "bad\ufffdthing" in b.error
    stored = [e.data async for e in RunEvent.objects.filter(run=run).order_by("seq")]
    assert "\x00" not in json.dumps(stored, ensure_ascii=False)
    ok = await start(alice, NUL_OK)
    await execution.execute(ok.pk)
    done = await finished(ok.pk, timeout=20)
    assert done.status == "succeeded", done.error
    assert done.outputs == {"a": {"k\ufffdey": "a\ufffdb"}, "note": "x\ufffdy"}
