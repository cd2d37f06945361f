"""``loaddemo``: the demo user, the examples as their workflows, and the example skills."""

import pathlib

import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from builder.models import Skill, Workflow
from builder.services import Invalid, save_workflow


class Command(BaseCommand):
    help = "Create the demo user (demo / demo-password) and load examples/ as their workflows and skills."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo-password")

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
        for data in skills:
            skill = Skill.objects.filter(name=data["name"]).first() or Skill(name=data["name"])
            for key, value in data.items():
                setattr(skill, key, value)
            skill.full_clean()
            skill.save()
        loaded = 0
        for path in sorted(examples.glob("*.yaml")):
            text = path.read_text()
            name = yaml.safe_load(text).get("name")
            existing = Workflow.objects.filter(owner=user, name=name).first()
            try:
                save_workflow(user, text, f"loaded from examples/{path.name}", existing)
            except Invalid as exc:
                self.stderr.write(f"{path}: {exc.issues[0].format(str(path))}")
                continue
            loaded += 1
        self.stdout.write(f"Loaded {loaded} example workflows and {len(skills)} skills.")
        self.stdout.write(f"Log in at /login/ as {options['username']} / "
                          f"{options['password'] if created else '(the password set earlier)'}")
