"""Schedules (builder/scheduler.py): each slot fires once, missed slots are noted or caught up,
daylight saving, enabled/active, concurrency and inputs. The clock is injected: ``tick(now)``
is called with the time a test wants, nothing sleeps."""

from datetime import datetime, timedelta, timezone

import pytest

from builder import scheduler
from builder.models import Run, ScheduleSlot, Trigger
from builder.services import save_workflow

pytestmark = pytest.mark.django_db
UTC = timezone.utc
T0 = datetime(2030, 1, 7, 12, 0, 30, tzinfo=UTC)


def every(cron: str = "* * * * *", extra: str = "", head: str = "") -> str:
    return f"""name: sched
{head}inputs: {{day: {{type: string, default: none}}}}
triggers:
  - {{id: tick, schedule: "{cron}"{extra}, inputs: {{day: "${{trigger.date}}"}}}}
steps:
  - {{id: a, uses: wait, with: {{seconds: 0, value: "${{inputs.day}}"}}}}
"""


def slots(workflow):
    return list(ScheduleSlot.objects.filter(trigger__workflow=workflow).order_by("slot"))


def runs(workflow):
    return list(Run.objects.filter(workflow=workflow).order_by("pk"))


def test_every_minute_over_ten_simulated_minutes_makes_ten_runs_one_per_slot(alice):
    workflow = save_workflow(alice, every())
    scheduler.tick(T0)  # the schedule starts at the first slot after now
    assert Trigger.objects.get(workflow=workflow).next_slot == datetime(2030, 1, 7, 12, 1, tzinfo=UTC)
    now = T0
    for _ in range(10 * 6):  # a tick every 10 simulated seconds
        now += timedelta(seconds=10)
        scheduler.tick(now)
        scheduler.tick(now)  # a second process at the same moment finds nothing left
    made = slots(workflow)
    assert [s.slot for s in made] == [datetime(2030, 1, 7, 12, m, tzinfo=UTC) for m in range(1, 11)]
    assert {s.outcome for s in made} == {"started"}
    made_runs = runs(workflow)
    assert len(made_runs) == 10 and [s.run_id for s in made] == [r.pk for r in made_runs]
    first = made_runs[0]
    assert first.origin == "schedule" and first.origin_detail == {"trigger": "tick", "slot": "2030-01-07T12:01:00+00:00"}
    assert first.inputs == {"day": "2030-01-07T12:01:00+00:00"}


def test_a_slot_row_already_claimed_fires_nothing(alice):
    workflow = save_workflow(alice, every())
    scheduler.tick(T0)
    row = Trigger.objects.get(workflow=workflow)
    ScheduleSlot.objects.create(trigger=row, slot=row.next_slot, outcome="started", claimed_by="other")
    assert scheduler.tick(T0 + timedelta(seconds=40)) == []
    assert runs(workflow) == []


def test_two_ticks_that_read_the_same_next_slot_fire_it_once(alice):
    """The conditional UPDATE: a process that read the old next_slot finds it moved and does nothing."""
    workflow = save_workflow(alice, every())
    scheduler.tick(T0)
    stale = Trigger.objects.get(workflow=workflow)
    scheduler.tick(T0 + timedelta(seconds=40))
    assert scheduler._handle(stale, T0 + timedelta(seconds=40), timedelta(seconds=60), "late") == []
    assert len(runs(workflow)) == 1


def downtime(alice, catch_up: bool):
    extra = ", catch_up: true" if catch_up else ""
    workflow = save_workflow(alice, every("*/10 * * * *", extra))
    scheduler.tick(T0)  # next slot 12:10
    scheduler.tick(T0 + timedelta(minutes=10))  # 12:10 fires on time
    scheduler.tick(T0 + timedelta(hours=1, minutes=10))  # back after an hour: 12:20 ... 13:10 due
    return workflow


def test_catch_up_off_notes_the_missed_slots_once_and_fires_only_the_one_on_time(alice):
    workflow = downtime(alice, catch_up=False)
    made = [(s.slot.strftime("%H:%M"), s.outcome, s.note) for s in slots(workflow)]
    assert made == [
        ("12:10", "started", ""),
        ("13:00", "skipped", "5 slots missed while nothing ran (from 2030-01-07T12:20:00+00:00 to "
                             "2030-01-07T13:00:00+00:00); catch_up is off"),
        ("13:10", "started", ""),
    ]
    assert len(runs(workflow)) == 2


def test_catch_up_on_runs_each_missed_slot_once_in_order(alice):
    workflow = downtime(alice, catch_up=True)
    made = [(s.slot.strftime("%H:%M"), s.outcome, s.note) for s in slots(workflow)]
    assert [m[0] for m in made] == ["12:10", "12:20", "12:30", "12:40", "12:50", "13:00", "13:10"]
    assert {m[1] for m in made} == {"started"} and [m[2] for m in made].count("caught up") == 5
    assert [r.inputs["day"][11:16] for r in runs(workflow)] == [m[0] for m in made]
    scheduler.tick(T0 + timedelta(hours=1, minutes=10, seconds=5))
    assert len(runs(workflow)) == 7


def test_catch_up_runs_the_latest_hundred_and_notes_the_rest(alice):
    workflow = save_workflow(alice, every(extra=", catch_up: true"))
    scheduler.tick(T0)
    scheduler.tick(T0 + timedelta(minutes=150, seconds=10))  # 150 slots due, the last on time
    made = slots(workflow)
    notes = [s for s in made if s.outcome == "skipped"]
    assert len(notes) == 1 and notes[0].note.startswith("149 slots missed while nothing ran")
    assert "catch_up ran the latest 100, 49 older ones were left out" in notes[0].note
    assert len(runs(workflow)) == 101


def test_a_year_of_downtime_is_counted_up_to_a_bound_and_fast(alice):
    import time

    workflow = save_workflow(alice, every())
    scheduler.tick(T0)
    start = time.perf_counter()
    scheduler.tick(T0 + timedelta(days=365))
    assert time.perf_counter() - start < 5
    made = slots(workflow)
    assert [s.outcome for s in made] == ["skipped", "started"]
    assert made[0].note.startswith("10,000 or more slots missed while nothing ran (from 2030-01-07T12:01:00+00:00")


def test_dst_days_in_paris_fire_once_per_wall_time_and_keep_the_local_date(alice):
    workflow = save_workflow(alice, every("30 2 * * *", ", timezone: Europe/Paris"))
    now = datetime(2030, 3, 29, 12, tzinfo=UTC)
    scheduler.tick(now)
    while now < datetime(2030, 3, 31, 12, tzinfo=UTC):  # spring: 02:30 does not exist on the 31st
        now += timedelta(minutes=5)
        scheduler.tick(now)
    now = datetime(2030, 10, 25, 12, tzinfo=UTC)
    save_workflow(alice, every("30 2 * * *", ", timezone: Europe/Paris, catch_up: true"), workflow=workflow)
    scheduler.tick(now)
    while now < datetime(2030, 10, 28, 12, tzinfo=UTC):  # autumn: 02:30 happens twice on the 27th
        now += timedelta(minutes=5)
        scheduler.tick(now)
    days = [r.inputs["day"] for r in runs(workflow)]
    assert days == ["2030-03-30T02:30:00+01:00", "2030-03-31T03:00:00+02:00",
                    "2030-10-26T02:30:00+02:00", "2030-10-27T02:30:00+02:00", "2030-10-28T02:30:00+01:00"]
    assert [s.slot.strftime("%d %H:%M") for s in slots(workflow)] == [
        "30 01:30", "31 01:00", "26 00:30", "27 00:30", "28 01:30"]  # stored in UTC


def test_hourly_schedules_follow_the_clock_through_the_autumn_change():
    spec = {"schedule": "0 * * * *", "timezone": "Europe/Paris"}
    day = scheduler.next_slots(spec, datetime(2030, 10, 26, 22, tzinfo=UTC), datetime(2030, 10, 27, 22, 59, tzinfo=UTC))
    assert len(day) == 25  # the day has 25 hours, each fires


def test_a_disabled_workflow_or_an_inactive_trigger_fires_nothing(alice):
    workflow = save_workflow(alice, every())
    scheduler.tick(T0)
    workflow.triggers_enabled = False
    workflow.save()
    scheduler.tick(T0 + timedelta(minutes=1))
    assert slots(workflow) == []
    workflow.triggers_enabled = True
    workflow.save()
    save_workflow(alice, every().replace('  - {id: tick, schedule: "* * * * *", inputs: {day: "${trigger.date}"}}\n',
                                         "  []\n"), workflow=workflow)  # a version without the trigger
    assert not Trigger.objects.get(workflow=workflow).active
    scheduler.tick(T0 + timedelta(minutes=2))
    assert slots(workflow) == [] and runs(workflow) == []


def test_a_changed_schedule_starts_from_now(alice):
    workflow = save_workflow(alice, every())
    scheduler.tick(T0)
    save_workflow(alice, every("0 * * * *"), workflow=workflow)
    scheduler.tick(T0 + timedelta(minutes=5))  # nothing is due: it starts after now
    scheduler.tick(T0 + timedelta(minutes=60))
    assert [s.slot.strftime("%H:%M") for s in slots(workflow)] == ["13:00"]


def test_the_workflows_concurrency_skip_applies_to_scheduled_runs(alice):
    workflow = save_workflow(alice, every(head="concurrency: {limit: 1, when_busy: skip}\n"))
    scheduler.tick(T0)
    scheduler.tick(T0 + timedelta(minutes=1))  # its run stays queued: nothing executes here
    scheduler.tick(T0 + timedelta(minutes=2))
    made = slots(workflow)
    assert [s.outcome for s in made] == ["started", "skipped"]
    assert made[1].run.status == "skipped" and "when_busy: skip" in made[1].note


def test_inputs_that_do_not_fit_make_the_slot_failed_with_the_reason(alice):
    text = every().replace("day: {type: string, default: none}", "day: {type: integer, default: 1}")
    workflow = save_workflow(alice, text)
    scheduler.tick(T0)
    scheduler.tick(T0 + timedelta(minutes=1))
    made = slots(workflow)
    assert [s.outcome for s in made] == ["failed"] and made[0].run is None
    assert "day" in made[0].note and "integer" in made[0].note
    assert runs(workflow) == []


def test_an_expression_failing_at_run_time_fails_only_its_slot(alice):
    text = every().replace("${trigger.date}", "${from_json(trigger.date)}")
    workflow = save_workflow(alice, text)
    for minutes in range(3):
        scheduler.tick(T0 + timedelta(minutes=minutes))
    made = slots(workflow)
    assert len(made) == 2 and {s.outcome for s in made} == {"failed"} and all("trigger tick: inputs:" in s.note for s in made)


def test_a_hostile_spec_row_is_logged_and_the_other_triggers_still_fire(alice, caplog):
    good = save_workflow(alice, every())
    bad = save_workflow(alice, every().replace("name: sched", "name: other"))
    scheduler.tick(T0)
    Trigger.objects.filter(workflow=bad).update(spec={"schedule": "not a cron", "timezone": "../../etc/passwd"})
    scheduler.tick(T0 + timedelta(minutes=1))
    assert len(runs(good)) == 1 and runs(bad) == []
    assert "schedule" in caplog.text


def test_the_fake_clock_moves_at_its_speed(settings):
    import json
    import time

    settings.WORKFLOW_SCHEDULER_CLOCK = json.dumps({"start": "2030-01-01T00:00:00Z", "at": time.time() - 2,
                                                    "speed": 60})
    now = scheduler.clock_now()
    assert datetime(2030, 1, 1, 0, 2, tzinfo=UTC) <= now < datetime(2030, 1, 1, 0, 2, 30, tzinfo=UTC)


def test_slots_while_disabled_never_fire_even_with_catch_up(alice):
    workflow = save_workflow(alice, every(extra=", catch_up: true"))
    scheduler.tick(T0)
    scheduler.tick(T0 + timedelta(minutes=1))  # 12:01 fires
    workflow.triggers_enabled = False
    workflow.save()
    scheduler.tick(T0 + timedelta(minutes=2))
    assert Trigger.objects.get(workflow=workflow).next_slot is None  # it forgot where it was
    workflow.triggers_enabled = True
    workflow.save()
    for minutes in (30, 31):
        scheduler.tick(T0 + timedelta(minutes=minutes))
    assert [s.slot.strftime("%H:%M") for s in slots(workflow)] == ["12:01", "12:31"]
    assert {s.outcome for s in slots(workflow)} == {"started"}


def test_a_slot_between_the_save_and_the_first_tick_fires(alice):
    workflow = save_workflow(alice, every())
    Trigger.objects.filter(workflow=workflow).update(updated_at=datetime(2030, 1, 7, 12, 0, 58, tzinfo=UTC))
    scheduler.tick(datetime(2030, 1, 7, 12, 1, 3, tzinfo=UTC))
    assert [s.slot.strftime("%H:%M") for s in slots(workflow)] == ["12:01"] and len(runs(workflow)) == 1


def test_an_interval_of_zero_or_less_does_not_spin(settings):
    settings.WORKFLOW_SCHEDULER_INTERVAL = -5
    assert scheduler._interval() == 0.05
