"""No run stays "running" for ever: a trial of one step whose server died and a command-line
run whose ``runworkflow`` process ended are marked interrupted by the recovery loop (they are
never taken over: their text is not the saved version's, or their process was the CLI)."""

import datetime as dt
import os
import subprocess
import sys

import pytest
from django.utils import timezone

from builder import execution, leases
from builder.models import Run
from builder.services import create_run, save_workflow
from tests.conftest import SIMPLE

pytestmark = pytest.mark.django_db(transaction=True)


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def workflow(alice):
    return save_workflow(alice, SIMPLE)


def running(workflow, user, mode: str, **fields) -> Run:
    run = create_run(workflow, user, {})
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, mode=mode, started_at=timezone.now(), **fields)
    return run


async def test_a_dead_trial_and_a_dead_cli_run_are_interrupted_live_ones_are_not(workflow, alice):
    from asgiref.sync import sync_to_async

    host = leases.HOST
    past = timezone.now() - dt.timedelta(seconds=5)
    later = timezone.now() + dt.timedelta(minutes=5)
    make = sync_to_async(running)
    dead_trial = await make(workflow, alice, "try", lease_owner=f"{host}:{os.getpid()}", lease_expires=past)
    gone_trial = await make(workflow, alice, "try", lease_owner=f"{host}:{dead_pid()}", lease_expires=later)
    live_trial = await make(workflow, alice, "try", lease_owner=f"{host}:{os.getpid()}", lease_expires=later)
    dead_cli = await make(workflow, alice, "cli", worker=f"{host}:{dead_pid()}")
    live_cli = await make(workflow, alice, "cli", worker=f"{host}:{os.getpid()}")
    elsewhere = await make(workflow, alice, "cli", worker="another-host:1")
    taken = await execution.recover()
    assert {dead_trial.pk, gone_trial.pk, dead_cli.pk} <= set(taken)
    statuses = {r.pk: (r.status, r.error) for r in await sync_to_async(list)(Run.objects.all())}
    for run in (dead_trial, gone_trial, dead_cli):
        assert statuses[run.pk] == ("interrupted", "the process running it stopped; resume it to go on")
    for run in (live_trial, live_cli, elsewhere):
        assert statuses[run.pk][0] == "running"
    assert await execution.recover() == []  # once
