"""Workflows and their versions, skills, runs with their steps and events."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

slug = RegexValidator(r"^[a-z0-9][a-z0-9_-]*$", "Use a-z, 0-9, - and _ (starting with a letter or digit).")


class Workflow(models.Model):
    """A user's workflow; ``yaml`` is the current version's text."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=100, validators=[slug])
    title = models.CharField(max_length=200, blank=True)
    yaml = models.TextField()
    version = models.PositiveIntegerField(default=1)
    #: the current version's triggers act only while this is on (list, editor and API switch it)
    triggers_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_workflow_name_per_owner")]

    def __str__(self) -> str:
        return self.name

    def current_version(self) -> WorkflowVersion:
        return self.versions.get(number=self.version)


class WorkflowVersion(models.Model):
    """One saved state of a workflow; never changed after it is written."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    yaml = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["workflow", "number"], name="unique_version_number")]

    def __str__(self) -> str:
        return f"{self.workflow.name} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("a workflow version is immutable; save a new version instead")
        super().save(*args, **kwargs)


class Skill(models.Model):
    """A named, admin-managed preset of one action, offered in the editor's palette."""

    name = models.CharField(max_length=100, unique=True, validators=[RegexValidator(r"^[A-Za-z_][A-Za-z0-9_]*$")])
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=100, default="Skills")
    action = models.CharField(max_length=100, help_text="the built-in action this skill presets")
    config = models.JSONField(default=dict, blank=True,
                              help_text="the action's parameters; ${inputs.NAME} refers to the skill's inputs")
    input_schema = models.JSONField(default=dict, blank=True, help_text="JSON Schema of the step's `with`")
    output_schema = models.JSONField(null=True, blank=True, help_text="JSON Schema of the output (optional)")
    concurrency = models.PositiveIntegerField(null=True, blank=True, help_text="at most this many running at once")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from .runtime import skill_problems

        problems = skill_problems(self)
        if problems:
            raise ValidationError(problems)


class Secret(models.Model):
    """A value runs read as ``${secrets.NAME}``: it belongs to its owner, who may share it.

    Never shown back and redacted from everything a run stores or sends. A run reads only the
    secrets its workflow's owner may use: their own, those shared with them or one of their
    groups, and (staff, or users allowed by ``WORKFLOW_ENV_SECRETS_FOR``) the server's
    ``WORKFLOW_SECRET_*`` environment variables.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=100,
                            validators=[RegexValidator(r"^[A-Za-z_][A-Za-z0-9_]*$", "Use letters, digits and _.")])
    value = models.TextField(help_text="write-only: it is never displayed again")
    description = models.CharField(max_length=300, blank=True)
    shared_with = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="shared_secrets",
                                         help_text="other users whose runs may read it")
    shared_with_groups = models.ManyToManyField("auth.Group", blank=True, related_name="shared_secrets",
                                                help_text="groups whose members' runs may read it")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "owner_id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="one_secret_name_per_owner")]

    def __str__(self) -> str:
        return self.name


class Origin(models.TextChoices):
    """How a run was started."""

    MANUAL = "manual"  # a person, in the browser
    CLI = "cli"  # manage.py runworkflow
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"
    API = "api"  # a personal API token
    RESUME = "resume"
    RERUN = "rerun"


class Run(models.Model):
    """One execution of a workflow version."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"
        INTERRUPTED = "interrupted"
        WAITING = "waiting"  # an approval is pending: no process holds it (builder/approvals.py)
        SKIPPED = "skipped"  # its workflow's concurrency limit was reached (builder/concurrency.py)

    #: executing, or about to: what a lease is held for (a ``waiting`` run holds none)
    ACTIVE = (Status.QUEUED, Status.RUNNING)

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    # RESTRICT: a version with runs cannot be deleted alone, but goes with its workflow (and the runs)
    version = models.ForeignKey(WorkflowVersion, on_delete=models.RESTRICT, related_name="runs")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    inputs = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    outputs = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    summary = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=20, default="embedded", help_text="embedded, celery or cli")
    worker = models.CharField(max_length=200, blank=True, help_text="the process that executes the run")
    resumed_from = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    last_seq = models.PositiveIntegerField(default=0)
    # the lease (builder/leases.py): the one process that runs the run, while it renews it
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires = models.DateTimeField(null=True, blank=True, db_index=True)
    cancel_requested = models.BooleanField(default=False)
    takeovers = models.PositiveIntegerField(default=0, help_text="times another process took the run over")
    # the workflow's ``concurrency.limit`` when the run was made (builder/concurrency.py); None: no limit
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True)
    #: where the run came from, and the details: {"trigger": id, "slot": iso} (schedule),
    #: {"trigger": id} (webhook), {"token": name} (api), {"run": N} (resume, rerun)
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.MANUAL, db_index=True)
    origin_detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workflow", "status"])]

    def __str__(self) -> str:
        return f"run #{self.pk} of {self.workflow.name}"

    @property
    def finished(self) -> bool:
        """Ended for good: not queued, running or waiting for a person."""
        return self.status not in (*self.ACTIVE, self.Status.WAITING)


class StepRun(models.Model):
    """One step's attempt (each foreach item's copy has its own path: ``per_file[3].download``)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    path = models.CharField(max_length=500)
    step_id = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, default="action")
    uses = models.CharField(max_length=100, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=20, default="running")
    inputs = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    output_note = models.CharField(max_length=200, blank=True, help_text="set when the output was cut")
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["run", "path", "attempt"], name="unique_step_attempt")]
        indexes = [models.Index(fields=["run", "path"])]

    def __str__(self) -> str:
        return f"{self.path} #{self.attempt}"


class RunEvent(models.Model):
    """The run's event log, in ``seq`` order, for replay to websocket clients."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=40)
    data = models.JSONField()

    class Meta:
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="unique_event_seq")]


class Approval(models.Model):
    """A step ``uses: approval`` of a run, waiting for (or given) a person's decision.

    Made by the recorder from the step's ``step.waiting`` event, in the same transaction. The
    approvers are the user names the step gave (none: the run's owner), linked to their users;
    only they may decide, and while it is pending they may see the run (builder/approvals.py).
    """

    class Decision(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        EXPIRED = "expired"  # its deadline passed first: the step failed
        CLOSED = "closed"  # the run ended otherwise (cancelled, failed) before a decision

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="approvals")
    path = models.CharField(max_length=500)
    message = models.TextField()
    approver_names = models.JSONField(default=list, help_text="as the step named them ([]: the run's owner)")
    approvers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="approvals_asked")
    deadline = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField()
    decision = models.CharField(max_length=20, choices=Decision.choices, default=Decision.PENDING, db_index=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["requested_at", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "path"], name="one_approval_per_step")]

    def __str__(self) -> str:
        return f"{self.path} of run #{self.run_id} ({self.decision})"


class Trigger(models.Model):
    """One trigger of a workflow's current version (synced when a version is saved): its
    schedule's next slot, or its webhook's token (stored hashed, shown once)."""

    class Kind(models.TextChoices):
        SCHEDULE = "schedule"
        WEBHOOK = "webhook"

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="triggers")
    trigger_id = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    spec = models.JSONField(default=dict, help_text="the trigger as the YAML gives it")
    active = models.BooleanField(default=True, help_text="false once the current version no longer has it")
    # schedules: the next slot to fire (UTC); slots before it were fired, skipped or noted
    next_slot = models.DateTimeField(null=True, blank=True, db_index=True)
    # webhooks: sha256 of the token, its last characters for people, when it was made
    token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    token_hint = models.CharField(max_length=8, blank=True)
    token_created_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workflow", "trigger_id"]
        constraints = [models.UniqueConstraint(fields=["workflow", "trigger_id"], name="unique_trigger_per_workflow")]

    def __str__(self) -> str:
        return f"{self.workflow.name}:{self.trigger_id}"


class ScheduleSlot(models.Model):
    """One slot of a schedule, claimed once across every process (the unique row is the claim)."""

    class Outcome(models.TextChoices):
        STARTED = "started"  # a run was made for it
        SKIPPED = "skipped"  # missed while nothing ran (catch_up off), or the workflow was busy
        FAILED = "failed"  # the run could not be made (the version is invalid, its inputs do not fit)

    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="slots")
    slot = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    note = models.CharField(max_length=500, blank=True)
    run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    claimed_at = models.DateTimeField(auto_now_add=True)
    claimed_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-slot"]
        constraints = [models.UniqueConstraint(fields=["trigger", "slot"], name="one_claim_per_slot")]


class ApiToken(models.Model):
    """A personal API token: ``Authorization: Bearer …`` with its owner's permissions.
    Only its sha256 is stored; the token is shown once, when it is made."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="the token's first characters, to recognise it")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_token_name_per_owner")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class SkillChange(models.Model):
    """One change of a skill made in the admin (builder/skill_history.py): who, when, and the
    skill's fields before and after, so the admin can show a diff and restore an earlier state.
    Kept when the skill is deleted (``name`` says which it was)."""

    skill = models.ForeignKey(Skill, on_delete=models.SET_NULL, null=True, blank=True, related_name="changes")
    name = models.CharField(max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    kind = models.CharField(max_length=20, help_text="created, changed, enabled, disabled, restored, imported, deleted")
    before = models.JSONField(null=True, blank=True, help_text="the fields before (None: it was new)")
    after = models.JSONField(null=True, blank=True, help_text="the fields after (None: it was deleted)")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} {self.kind}"
