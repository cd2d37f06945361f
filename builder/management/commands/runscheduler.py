"""``runscheduler``: fire schedule slots in a process of its own (the celery mode's beat).

It runs builder/scheduler.py's tick every WORKFLOW_SCHEDULER_INTERVAL seconds until SIGTERM
or Ctrl+C. Two of them (or one beside a server with WORKFLOW_SCHEDULER=on) are safe: each slot
is claimed in the database, so it fires once.
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Fire the schedules' slots (each once across processes) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one tick, then exit")

    def handle(self, *args, **options):
        from builder import scheduler

        if options["once"]:
            for slot in scheduler.tick(None, "runscheduler"):
                self.stdout.write(f"slot {slot.slot.isoformat()} of {slot.trigger.trigger_id}: {slot.outcome}")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write("scheduler running", ending="\n")
        self.stdout.flush()
        scheduler.run_forever(stop, lambda line: (self.stdout.write(line), self.stdout.flush()))
        self.stdout.write("scheduler stopped")
