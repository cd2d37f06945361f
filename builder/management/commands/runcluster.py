"""``runcluster``: a celery-mode cluster on one machine, in one terminal (``make run-cluster``).

It creates the PostgreSQL database when it is missing, migrates it, loads the demo, then
starts daphne, the celery workers and the fake model server as child processes (it fires the
schedules itself, in a thread: ``runscheduler``'s loop) and watches them: their output comes out prefixed with their names, and Ctrl+C (or SIGTERM) stops them
all; so does any of them exiting on its own, since the cluster would be incomplete. The
children have sessions of their own, so a terminal's Ctrl+C reaches only this process, which
stops them in order: each gets SIGTERM (workers finish what they run) and, after ``--grace``
seconds, SIGKILL. This is a supervisor for one machine; a deployment runs each process under
its own service manager (docs/deploy.md).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from builder.scheduler import run_forever


class Command(BaseCommand):
    help = "Migrate, load the demo and run daphne + celery workers + the fake model server until Ctrl+C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000, help="daphne's port (0: any free one)")
        parser.add_argument("--workers", type=int, default=2, help="celery worker processes")
        parser.add_argument("--llm-port", type=int, default=8090, help="the fake model server's port (0: none)")
        parser.add_argument("--no-demo", action="store_true", help="do not load the demo user and examples")
        parser.add_argument("--grace", type=float, default=10.0,
                            help="seconds the processes get to stop before they are killed")

    def handle(self, *args, **options):
        if settings.WORKFLOW_EXECUTION != "celery":
            raise CommandError("runcluster is the celery mode: set WORKFLOW_EXECUTION=celery, DATABASE_URL and "
                               "REDIS_URL (make run-cluster does; docs/deploy.md)")
        check_redis(settings.REDIS_URL)
        create_database(settings.DATABASES["default"])
        call_command("migrate", interactive=False, verbosity=1)
        if not options["no_demo"]:
            call_command("loaddemo")
        commands = {"web": [sys.executable, "-m", "daphne", "-b", options["host"], "-p", str(options["port"]),
                            "builder.asgi:application"]}
        for number in range(1, options["workers"] + 1):
            commands[f"worker{number}"] = [sys.executable, "-m", "celery", "-A", "builder", "worker",
                                           "-n", f"worker{number}@%h", "--loglevel=INFO",
                                           "--without-mingle", "--without-gossip"]
        if options["llm_port"]:
            commands["llm"] = [sys.executable, str(settings.BASE_DIR / "examples" / "fake_llm.py"),
                               str(options["llm_port"])]
        beat = threading.Event()  # this process is the cluster's scheduler too (manage.py runscheduler's loop)
        threading.Thread(target=run_forever, args=(beat,), name="scheduler", daemon=True).start()
        code = Supervisor(commands, self.stdout).run(options["grace"])
        beat.set()
        if code:
            raise CommandError(f"a process of the cluster stopped on its own (exit status {code}); stopped the others")


def check_redis(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: not usable
        raise CommandError(f"Redis is not reachable at REDIS_URL={url}: {exc}") from None


def create_database(db: dict) -> None:
    """Create the PostgreSQL database ``db`` names unless it exists (on the same server)."""
    import psycopg
    from psycopg import sql

    where = dict(host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"] or None,
                 password=db["PASSWORD"] or None)
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **where) as admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db["NAME"],)).fetchone():
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
    except psycopg.Error as exc:
        raise CommandError(f"PostgreSQL: could not find or create the database {db['NAME']!r} "
                           f"at {db['HOST']}:{db['PORT'] or 5432}: {exc}") from None


class Supervisor:
    """Child processes with prefixed output, stopped together."""

    def __init__(self, commands: dict[str, list[str]], out):
        self.commands = commands
        self.out = out
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.children: dict[str, subprocess.Popen] = {}

    def say(self, name: str, line: str) -> None:
        with self.lock:
            self.out.write(f"{name:>8} | {line.rstrip()}")
            self.out.flush()

    def run(self, grace: float) -> int:
        """Start every command, wait for a signal or a child's exit, stop them all; the exit
        status of a child that stopped on its own, else 0."""
        previous = {sig: signal.signal(sig, lambda *_: self.stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for name, command in self.commands.items():
                child = subprocess.Popen(command, cwd=settings.BASE_DIR, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
                self.children[name] = child
                self.say("cluster", f"started {name} (pid {child.pid})")
                threading.Thread(target=self._relay, args=(name, child), daemon=True).start()
            self.say("cluster", "running; Ctrl+C stops every process")
            failed = 0
            while not self.stopping.wait(0.2):
                exited = {name: child.returncode for name, child in self.children.items() if child.poll() is not None}
                if exited:
                    name, failed = next(iter(exited.items()))
                    self.say("cluster", f"{name} exited (status {failed}): stopping the others")
                    failed = failed or 1
                    break
            self.stop(grace)
            return failed
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self, grace: float) -> None:
        for name, child in self.children.items():
            if child.poll() is None:
                self.say("cluster", f"stopping {name}")
                child.terminate()
        deadline = time.monotonic() + grace
        for name, child in self.children.items():
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say("cluster", f"{name} did not stop within {grace:g} s: killed")
                child.kill()
                child.wait()
        self.say("cluster", "stopped")

    def _relay(self, name: str, child: subprocess.Popen) -> None:
        for line in child.stdout:
            self.say(name, line)
