"""``validateworkflow FILE...``: report every problem in workflow files."""

import json
import sys

from django.core.management.base import BaseCommand

from builder.runtime import load_workflow, registry
from engine import WorkflowInvalid


class Command(BaseCommand):
    help = "Validate workflow files; prints PATH:LINE:COL: step.path: message for each problem."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--json", action="store_true", help="print {path: [issues]} as JSON")

    def handle(self, *args, **options):
        report: dict[str, list] = {}
        actions = registry()
        bad = False
        for path in options["paths"]:
            issues = check_file(path, actions)
            report[path] = [i.as_dict() for i in issues]
            bad = bad or bool(issues)
            if not options["json"]:
                for issue in issues:
                    self.stderr.write(issue.format(path))
                if not issues:
                    self.stdout.write(f"{path}: ok")
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        if bad:
            sys.exit(2)


def check_file(path: str, actions=None, secret_names=None):
    """The issues of one file ([] when valid); an unreadable file is one issue."""
    from engine import Issue

    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except OSError as exc:
        return [Issue(1, 1, "", f"cannot read the file: {exc.strerror}")]
    try:
        load_workflow(text, path, actions, secret_names)
    except WorkflowInvalid as exc:
        return exc.issues
    return []
