"""How the builder configures the engine: settings, and the registry with the skills."""

from __future__ import annotations

import logging

from django.conf import settings

from engine import (
    ActionRegistry,
    Budgets,
    EngineSettings,
    Workflow,
    load,
    SkillAction,
    SkillSpec,
    config_problems,
    default_registry,
    schema_problems,
)


log = logging.getLogger(__name__)


def engine_settings() -> EngineSettings:
    """EngineSettings from Django settings."""
    return EngineSettings(
        python_allowed=tuple(settings.WORKFLOW_PYTHON_ALLOWED),
        threads=settings.WORKFLOW_THREADS,
        python_workers=settings.WORKFLOW_PYTHON_WORKERS,
        workflow_depth=settings.WORKFLOW_DEPTH,
        finally_grace=settings.WORKFLOW_FINALLY_GRACE,
        # a celery mode's web process validates workflows but never runs them: no python pool there
        warm_pool=settings.WORKFLOW_EXECUTION == "embedded",
        budgets=Budgets(steps=settings.WORKFLOW_MAX_STEPS, items_per_block=settings.WORKFLOW_MAX_ITEMS,
                        items_per_run=settings.WORKFLOW_MAX_RUN_ITEMS,
                        output_bytes=settings.WORKFLOW_MAX_OUTPUT_BYTES,
                        step_output_bytes=settings.WORKFLOW_MAX_STEP_OUTPUT_BYTES, sub_runs=settings.WORKFLOW_MAX_SUB_RUNS),
        extra={"sql_connections": settings.WORKFLOW_SQL_CONNECTIONS,
               "llm_connections": settings.WORKFLOW_LLM_CONNECTIONS,
               "http_allow": tuple(settings.WORKFLOW_HTTP_ALLOW),
               "http_max_bytes": settings.WORKFLOW_HTTP_MAX_BYTES,
               "http_host_concurrency": settings.WORKFLOW_HTTP_HOST_CONCURRENCY},
    )


SECRET_PREFIX = "WORKFLOW_SECRET_"


def environment_secrets() -> dict[str, str]:
    """The server's secrets: environment variables ``WORKFLOW_SECRET_<NAME>``."""
    import os

    return {key[len(SECRET_PREFIX):]: value for key, value in os.environ.items()
            if key.startswith(SECRET_PREFIX) and len(key) > len(SECRET_PREFIX)}


def may_use_environment_secrets(user) -> bool:
    """Staff, and the users and groups ``WORKFLOW_ENV_SECRETS_FOR`` names (``*``: everyone)."""
    if user is None or not user.is_active:
        return False
    if user.is_staff:
        return True
    allowed = settings.WORKFLOW_ENV_SECRETS_FOR
    if "*" in allowed or user.get_username() in allowed:
        return True
    groups = {entry[len("group:"):] for entry in allowed if entry.startswith("group:")}
    return bool(groups) and user.groups.filter(name__in=groups).exists()


def secrets_for(user) -> dict[str, str]:
    """The secret values a user's runs may read, by name: the server's (if allowed), then
    those shared with the user or their groups, then their own (each later one wins a name)."""
    from django.db import DatabaseError
    from django.db.models import Q

    from .models import Secret

    values = environment_secrets() if may_use_environment_secrets(user) else {}
    if user is None or user.pk is None:
        return values
    try:  # one query (every run reads this twice): the shared ones, oldest change first, then the own
        rows = (Secret.objects.filter(Q(owner=user) | Q(shared_with=user) | Q(shared_with_groups__user=user))
                .order_by().values_list("owner_id", "name", "value", "updated_at").distinct())
        rows = sorted(rows, key=lambda row: (row[0] == user.pk, row[3] if row[0] != user.pk else 0))
        values.update((name, value) for _, name, value, _ in rows)
    except DatabaseError as exc:
        log.warning("stored secrets are unavailable: %s", exc)
    return values


def secret_names_for(user) -> list[str]:
    """The names ``secrets_for(user)`` has (what validation and did-you-mean may mention)."""
    return sorted(secrets_for(user))


def spec_of(skill) -> SkillSpec:
    """A Skill row as the engine's SkillSpec."""
    return SkillSpec(name=skill.name, action=skill.action, config=skill.config or {},
                     input_schema=skill.input_schema or {"type": "object"}, output_schema=skill.output_schema,
                     title=skill.title, description=skill.description, category=skill.category,
                     concurrency=skill.concurrency)


#: (key, registry) of the last ``registry()`` built from the database, per process
_cached: tuple[tuple, ActionRegistry] | None = None


def _skills_key():
    """What changes whenever an enabled skill is added, changed, enabled, disabled or deleted, from
    any process: how many there are, the sum of their ids (a delete and an add in one go) and the
    latest ``updated_at`` (every save sets it: the admin, an import, a restore). One aggregate
    query instead of reading every row and building its validator on every run."""
    from django.db import connections

    from .models import Skill

    with connections[Skill.objects.db].cursor() as cursor:  # raw: the ORM's aggregate costs more than the query
        cursor.execute(f"SELECT COUNT(*), SUM(id), MAX(updated_at) FROM {Skill._meta.db_table} WHERE enabled")
        return tuple(cursor.fetchone())


def registry(skills=None) -> ActionRegistry:
    """The built-in actions plus the enabled skills, as the database has them now (a snapshot;
    built again only when the skills changed: ``_skills_key``). ``skills``: these rows instead."""
    global _cached
    from django.db import DatabaseError

    from .models import Skill

    if skills is not None:
        return _build(skills)
    try:
        key = _skills_key()
        if _cached is not None and _cached[0] == key:
            return _cached[1]
        rows = list(Skill.objects.filter(enabled=True))
    except DatabaseError as exc:  # e.g. the CLI on a database that is not migrated: built-ins only
        log.warning("skills are unavailable: %s", exc)
        return _build([])
    built = _build(rows)
    # keyed by what was read before the rows: a change in between is seen by the next call
    _cached = (key, built)
    return built


def _build(rows) -> ActionRegistry:
    base = default_registry()
    actions = {}
    for row in rows:
        action = base.get(row.action)
        if action is not None and not base.is_builtin(row.name):
            actions[row.name] = SkillAction(spec_of(row), action)
    return base.with_skills(actions.get, lambda: list(actions))


def load_workflow(text, filename: str = "workflow.yaml", actions: ActionRegistry | None = None,
                  secret_names=None, workflow_names=None) -> Workflow:
    """``engine.load`` with the builder's registry and settings; ``${secrets.X}`` is checked
    against ``secret_names`` when given (the owner's: see ``secret_names_for``), ``workflow``
    steps against ``workflow_names`` (the owner's saved workflows)."""
    return load(text, filename, registry=actions or registry(), settings=engine_settings(),
                secrets=secret_names, workflows=workflow_names)


def nul_place(value, place: str) -> str | None:
    """Where ``value`` holds text with the NUL character (``inputs.files[2]``), or None.
    PostgreSQL's text and JSON columns refuse it; SQLite's take it, but the product refuses it
    on both."""
    if isinstance(value, str):
        return place if "\x00" in value else None
    found = None
    if isinstance(value, dict):
        for key, item in value.items():
            found = nul_place(key, place) or nul_place(item, f"{place}.{key}")
            if found:
                break
    elif isinstance(value, (list, tuple)):
        for n, item in enumerate(value):
            found = nul_place(item, f"{place}[{n}]")
            if found:
                break
    return found


def skill_problems(skill) -> dict[str, list[str]]:
    """Field → problems for a Skill about to be saved ({} when it is fine)."""
    base = default_registry()
    problems: dict[str, list[str]] = {}
    if base.is_builtin(skill.name):
        problems["name"] = [f"'{skill.name}' is a built-in action's name"]
    action = base.get(skill.action)
    if action is None:
        hint = base.suggest(skill.action)
        problems["action"] = [f"unknown action '{skill.action}'" + (f" (did you mean '{hint}'?)" if hint else "")]
    for field in ("input_schema", "output_schema"):
        value = getattr(skill, field)
        if value in (None, {}) and field == "output_schema":
            continue
        if not isinstance(value, dict):
            problems[field] = ["must be a JSON object (a JSON Schema)"]
            continue
        found = schema_problems(value)
        if found:
            problems[field] = found
    if not isinstance(skill.config, dict):
        problems["config"] = ["must be a JSON object of the action's parameters"]
    elif action is not None:
        found = config_problems(spec_of(skill), action, engine_settings())
        if found:
            problems["config"] = found
    if skill.concurrency is not None and skill.concurrency < 1:  # a global limit (engine/throttle.py)
        problems["concurrency"] = ["at least 1 (leave it empty for no limit)"]
    for field in ("config", "input_schema", "output_schema"):
        place = nul_place(getattr(skill, field), field)
        if place:
            problems.setdefault(field, []).append(f"{place}: text may not contain the NUL character")
    return problems
