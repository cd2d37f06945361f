"""``loaddemo``: the demo user, the examples as their workflows, and the example skills.

Run again (every ``make run`` does), it changes nothing that is already as the files say, and it
never overwrites what someone edited since: a workflow whose current version was saved from the
browser (or anywhere but this command) is kept, and so is a skill that differs from the file;
both are named in the output. ``--reset`` loads the files over them (a workflow gets a new
version; its earlier ones stay in its history).
"""

import pathlib

import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from builder.models import Skill, Workflow
from builder.services import Invalid, save_workflow

LOADED = "loaded from examples/"  # the message of the versions this command saves


class Command(BaseCommand):
    help = "Create the demo user (demo / demo-password) and load examples/ as their workflows and skills."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo-password")
        parser.add_argument("--reset", action="store_true",
                            help="load the example files over workflows and skills edited since")

    @transaction.atomic
    def handle(self, *args, **options):
        examples = pathlib.Path(settings.BASE_DIR) / "examples"
        User = get_user_model()
        user, created = User.objects.get_or_create(username=options["username"])
        if created:
            user.set_password(options["password"])
            user.is_staff = True
            user.is_superuser = True
            user.save()
        skills = yaml.safe_load((examples / "skills" / "skills.yaml").read_text())
        kept_skills = self._skills(skills, options["reset"])
        loaded, kept = 0, []
        for path in sorted(examples.glob("*.yaml")):
            text = path.read_text()
            name = yaml.safe_load(text).get("name")
            existing = Workflow.objects.filter(owner=user, name=name).first()
            if existing is not None and existing.yaml != text and not options["reset"]:
                latest = existing.current_version()
                if not latest.message.startswith(LOADED):  # edited since it was loaded: keep it
                    kept.append(f"{name} (v{existing.version})")
                    continue
            try:
                save_workflow(user, text, f"{LOADED}{path.name}", existing)
            except Invalid as exc:
                self.stderr.write(f"{path}: {exc.issues[0].format(str(path))}")
                continue
            loaded += 1
        self.stdout.write(f"Loaded {loaded} example workflows and {len(skills) - len(kept_skills)} skills.")
        if kept:
            self.stdout.write(f"Kept your edits of {', '.join(kept)}; their example files differ "
                              f"(`manage.py loaddemo --reset` loads the files as new versions).")
        if kept_skills:
            self.stdout.write(f"Kept the skills {', '.join(kept_skills)} as edited in the admin; "
                              f"examples/skills/skills.yaml differs (`--reset` loads the file's).")
        self.stdout.write(f"Log in at /login/ as {options['username']} / "
                          f"{options['password'] if created else '(the password set earlier)'}")

    def _skills(self, skills: list[dict], reset: bool) -> list[str]:
        """Create the missing example skills; those that exist and differ are kept unless
        ``reset``: their names are returned."""
        kept = []
        for data in skills:
            skill = Skill.objects.filter(name=data["name"]).first()
            if skill is not None:
                if all(getattr(skill, key) == value for key, value in data.items()):
                    continue
                if not reset:
                    kept.append(skill.name)
                    continue
            skill = skill or Skill(name=data["name"])
            for key, value in data.items():
                setattr(skill, key, value)
            skill.full_clean()
            skill.save()
        return kept
