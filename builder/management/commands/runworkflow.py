"""``runworkflow PATH [--input NAME=VALUE]... [--inputs-json FILE] [--json]``, and
``runworkflow --resume RUN [--latest] [--json]`` (or ``runworkflow PATH --resume RUN``).

Exit 0 when the run succeeded, 1 when it failed or was cancelled, 2 when the file or the
inputs are invalid (errors on stderr as ``PATH:LINE:COL: message``) or the run cannot be
resumed (why, on stderr), 3 when the run waits for an approval (it is recorded, and the
server goes on with it once someone decides).
"""

import asyncio
import json
import os
import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand
from rich.console import Console

from builder.cli_runs import restart_command, resume_command
from builder.management.commands.validateworkflow import check_file
from builder.runtime import engine_settings, environment_secrets, load_workflow, registry, secrets_for
from builder.terminal import LiveProgress, print_summary
from engine import FanoutSink, InputsInvalid, Runner, StepTable, parse_cli_value, plan


class Command(BaseCommand):
    help = ("Run a workflow file with live progress; --json prints the result for scripts. "
            "--resume RUN resumes a recorded failed, cancelled or interrupted run, reusing the outputs of the "
            "steps it completed: with the run's own version, or with --latest the workflow's current one "
            "(steps it no longer has are dropped; a succeeded run may be resumed only so); with PATH too, the "
            "file is saved as the workflow's new version first and the run resumes with it.")

    def add_arguments(self, parser):
        parser.add_argument("path", metavar="PATH", nargs="?", help="the workflow file (optional with --resume)")
        parser.add_argument("--input", action="append", default=[], metavar="NAME=VALUE",
                            help="an input value (typed by the workflow's declaration)")
        parser.add_argument("--inputs-json", metavar="FILE", help="a JSON file with an object of inputs")
        parser.add_argument("--json", action="store_true", help="print one JSON object with the result")
        parser.add_argument("--user", default=os.environ.get("WORKFLOW_CLI_USER", "demo"),
                            help="record the run as this user's (default: $WORKFLOW_CLI_USER or demo)")
        parser.add_argument("--no-record", action="store_true", help="do not record the run in the database")
        parser.add_argument("--resume", type=int, metavar="RUN",
                            help="resume recorded run RUN of --user: a new run reusing its completed steps")
        parser.add_argument("--restart", type=int, metavar="RUN", help="restart recorded run RUN of --user from "
                            "--from-step STEP: a new run reusing its completed steps before that step")
        parser.add_argument("--from-step", metavar="STEP", help="with --restart: the step path to run again from")
        parser.add_argument("--latest", action="store_true",
                            help="with --resume: use the workflow's current version, not the run's own; a "
                                 "completed step is reused where that version still has it, the others dropped")

    def handle(self, *args, **options):
        path = self.path = options["path"]
        if options["restart"] is not None:  # builder/cli_runs.py
            sys.exit(restart_command(self, options))
        if options["resume"] is not None:
            sys.exit(resume_command(self, options))
        if options["latest"] or path is None:
            self.stderr.write("runworkflow: give PATH, or --resume RUN (--latest goes with --resume)")
            sys.exit(2)
        actions = registry()
        secret_values = self.secrets(options["user"])
        issues = check_file(path, actions, secret_values.keys())
        if issues:
            for issue in issues:
                self.stderr.write(issue.format(path))
            sys.exit(2)
        with open(path, "rb") as handle:
            workflow = load_workflow(handle.read(), path, actions, secret_values.keys())
        inputs = self.read_inputs(path, workflow, options)
        record = None if options["no_record"] else self.recording(path, options["user"], inputs, actions)
        code = asyncio.run(self.run_async(actions, secret_values, workflow, inputs, options["json"], record))
        sys.exit(code)

    def secrets(self, username: str) -> dict:
        """The ``--user``'s secrets (whoever runs this command reads the server's environment anyway)."""
        from django.contrib.auth import get_user_model
        from django.db import DatabaseError

        try:
            user = get_user_model().objects.filter(username=username).first()
        except DatabaseError:
            user = None
        return secrets_for(user) if user is not None else environment_secrets()

    def read_inputs(self, path, workflow, options) -> dict:
        doc = workflow._source
        problems = []
        inputs: dict = {}
        if options["inputs_json"]:
            try:
                with open(options["inputs_json"], encoding="utf-8") as handle:
                    data = json.load(handle)
            except (OSError, ValueError) as exc:
                self.fail_inputs(f"{options['inputs_json']}:1:1: cannot read the inputs: {exc}")
            if not isinstance(data, dict):
                self.fail_inputs(f"{options['inputs_json']}:1:1: the inputs file must hold a JSON object")
            inputs.update(data)
        for item in options["input"]:
            name, sep, text = item.partition("=")
            if not sep:
                problems.append(f"{path}:1:1: --input {item!r}: use NAME=VALUE")
                continue
            spec = workflow.inputs.get(name)
            inputs[name] = parse_cli_value(spec.type if spec else "string", text)
        if problems:
            self.fail_inputs(*problems)
        from engine import coerce_inputs

        try:
            return coerce_inputs(workflow, inputs)
        except InputsInvalid as exc:
            lines = []
            for problem in exc.problems:
                name = problem.split("'")[1] if "'" in problem else ""
                line, col = doc.position(("inputs", name)) if name in workflow.inputs else doc.position(("inputs",))
                lines.append(f"{path}:{line}:{col}: inputs.{name}: {problem}")
            self.fail_inputs(*lines)

    def fail_inputs(self, *lines):
        for line in lines:
            self.stderr.write(line)
        sys.exit(2)

    def recording(self, path: str, username: str, inputs: dict, actions):
        """A queued Run row for this run (so it shows in the browser), or None with a note why not."""
        from django.contrib.auth import get_user_model
        from django.db import DatabaseError

        from builder.execution import worker_name
        from builder.services import Invalid, create_run, save_workflow

        try:
            user = get_user_model().objects.filter(username=username).first()
            if user is None:
                self.stderr.write(f"note: the run is not recorded: no user '{username}' (use --user)")
                return None
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            from builder.models import Workflow

            name = load_workflow(text, path, actions).name
            existing = Workflow.objects.filter(owner=user, name=name).first()
            replaced = _edited_elsewhere(existing, text, path)
            wf = save_workflow(user, text, f"from runworkflow {path}", existing)
            if replaced:
                self.stderr.write(f"note: '{name}' had a newer edit ({replaced}); this file is saved as "
                                  f"v{wf.version} and runs — v{wf.version - 1} stays in the history")
            run = create_run(wf, user, inputs, mode="cli")
            run.worker = worker_name()
            run.save(update_fields=["worker"])
            return run
        except (DatabaseError, Invalid, InputsInvalid) as exc:
            self.stderr.write(f"note: the run is not recorded: {exc}")
            return None

    async def run_async(self, actions, secret_values, workflow, inputs, as_json: bool, record=None,
                        completed=None, workflows=None, report=None) -> int:
        from builder.origins import origin_text
        from builder.recorder import RunRecorder

        runner = Runner(actions, engine_settings(), secrets=secret_values,
                        services={"workflows": workflows or files_beside(self.path)})
        table = StepTable()
        console = Console(stderr=False)
        live = LiveProgress(console) if sys.stdout.isatty() and not as_json else None
        recorder = RunRecorder(record.pk, on_fatal=lambda: runner.cancel(str(record.pk)),
                               interval=settings.WORKFLOW_STREAM_INTERVAL) \
            if record is not None else None
        if recorder is not None:
            await recorder.start()
        sink = FanoutSink(table, live, recorder)
        run_plan = plan(workflow, runner.registry)
        run_id = str(record.pk) if record is not None else None
        # a recorded run may wait for an approval: the server continues it once someone decides
        approvals = {} if record is not None else None
        task = asyncio.ensure_future(runner.run(run_plan, inputs, sink, run_id=run_id, completed=completed or {},
                                                approvals=approvals))
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, lambda: [runner.cancel(r) for r in list(runner._runs)])
        except (NotImplementedError, RuntimeError):
            pass
        try:
            if live is not None:
                with live:
                    result = await task
            else:
                result = await task
        finally:
            runner.close()
            if recorder is not None:
                await recorder.close()
        if as_json:
            self.stdout.write(json.dumps({
                "status": result.status,
                "outputs": result.outputs,
                "duration_ms": result.duration_ms,
                "error": result.error,
                "summary": result.summary,
                "steps": table.steps,
                # where it came from, as the server says it: "command line", "resume of #12"
                "origin": origin_text(*((record.origin, record.origin_detail) if record is not None else ("cli", None))),
                **({"run": record.pk} if record is not None else {}),
                **({"resume": report} if report is not None else {}),
            }, default=str, indent=2))
        else:
            print_summary(console, result, table.steps, shown_live=live is not None)
            if record is not None:
                console.print(f"recorded as run #{record.pk}: /runs/{record.pk}/", style="grey50")
            if result.status == "waiting":
                console.print("waiting for an approval: decide in the monitor or with POST /api/approvals/<id>/decide; "
                              "the server goes on with the run (this command has ended)", style="magenta")
        return {"succeeded": 0, "waiting": 3}.get(result.status, 1)


def files_beside(path: str):
    """``workflow`` steps' resolver for the CLI: a workflow file with that name beside PATH."""
    import pathlib

    import yaml

    async def find(name: str, version):
        for candidate in sorted(pathlib.Path(path).resolve().parent.glob("*.y*ml")):
            try:
                text = candidate.read_text(encoding="utf-8")
                if isinstance(data := yaml.safe_load(text), dict) and data.get("name") == name:
                    return text
            except (OSError, yaml.YAMLError, UnicodeDecodeError):
                continue
        return None

    return find


def _edited_elsewhere(workflow, text: str, path: str) -> str:
    """Who saved the workflow's current version, when it differs from ``text`` and was not
    saved by a run of this same file ("v5, saved by ann from the browser"); else ""."""
    if workflow is None or workflow.yaml == text:
        return ""
    latest = workflow.current_version()
    if latest.message == f"from runworkflow {path}":
        return ""
    by = latest.author.username if latest.author else "someone"
    return f"v{latest.number}, saved by {by}: {latest.message or 'no message'}"
