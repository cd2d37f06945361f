"""Settings. Every deployment choice comes from the environment, never from code edits."""

import json
import os
import tempfile
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Off unless asked for: `make run` turns it on for the demo. With it off, tracebacks never
# reach a browser and the server refuses to start without a real secret key.
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not DEBUG and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters when DJANGO_DEBUG is off "
        "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'); "
        "for a local demo, set DJANGO_DEBUG=1 instead (make run does)")
SECRET_KEY = SECRET_KEY or "dev-only-insecure-key-change-me"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
#: origins (scheme://host[:port]) allowed to send forms and API writes, e.g. behind a proxy
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

# HTTPS: DJANGO_HTTPS=1 when users reach the server over https (cookies Secure, http redirected,
# HSTS); DJANGO_BEHIND_PROXY=1 when a proxy in front terminates TLS and sets X-Forwarded-Proto
# (start daphne with --proxy-headers there, so login throttling sees the client's address).
HTTPS = env_bool("DJANGO_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(365 * 24 * 3600))) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
if env_bool("DJANGO_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "ninja",  # its vendored Swagger UI for /api/docs (without the app, the page loads it from a CDN)
    "builder",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into its page
]

ROOT_URLCONF = "builder.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = None
ASGI_APPLICATION = "builder.asgi.application"

if os.environ.get("DATABASE_URL", "").startswith("postgres"):
    from urllib.parse import urlparse

    _url = urlparse(os.environ["DATABASE_URL"])
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _url.path.lstrip("/"),
            "USER": _url.username or "",
            "PASSWORD": _url.password or "",
            "HOST": _url.hostname or "",
            "PORT": _url.port or "",
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "var" / "db.sqlite3")),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20,
                        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
            # a file, not memory: the browser tests' daphne process shares the test database
            "TEST": {"NAME": os.environ.get("SQLITE_TEST_PATH") or os.path.join(
                tempfile.gettempdir(), f"workflow-test-{os.getpid()}.sqlite3")},
        }
    }

# --- execution mode (docs/deploy.md) -------------------------------------------------------------
#: where runs execute: ``embedded`` (asyncio tasks in the web process that received the request;
#: one machine) or ``celery`` (enqueued on Redis, executed by ``celery -A builder worker``
#: processes on any machine, which share one PostgreSQL database)
WORKFLOW_EXECUTION = os.environ.get("WORKFLOW_EXECUTION", "embedded").strip().lower() or "embedded"
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if WORKFLOW_EXECUTION not in ("embedded", "celery"):
    raise ImproperlyConfigured(f"WORKFLOW_EXECUTION must be 'embedded' or 'celery', not {WORKFLOW_EXECUTION!r}")
if WORKFLOW_EXECUTION == "celery":
    _missing = []
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        _missing.append("DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/NAME (every web process and worker "
                        "shares one database; SQLite cannot be shared between machines)")
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        _missing.append("REDIS_URL=redis://HOST:6379/0 (the queue of runs and the channel layer)")
    if _missing:
        raise ImproperlyConfigured("WORKFLOW_EXECUTION=celery needs " + " and ".join(_missing)
                                   + "; or leave WORKFLOW_EXECUTION unset (embedded) for one machine")
#: a prefix for every key this installation writes to Redis (queue, events), so that several
#: installations (or test sessions) can share one Redis server
WORKFLOW_REDIS_PREFIX = os.environ.get("WORKFLOW_REDIS_PREFIX", "")

# Events reach every web process through Redis when there is one (several daphne processes,
# or workers); one process alone keeps them in memory.
if REDIS_URL:
    # socket_timeout above channels_redis's blocking read (BZPOPMIN, 5 s): at redis-py's default
    # (5 s too) every consumer that waits 5 s without a message dies of a read timeout (1011)
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                  "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                                             "prefix": WORKFLOW_REDIS_PREFIX + "asgi"}}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Celery (read by builder/celery.py, only in the celery mode). A worker process runs several
# runs at once on one event loop (builder/tasks.py): each of its threads waits for one run.
#: runs one worker process executes at once
WORKFLOW_WORKER_CONCURRENCY = int(os.environ.get("WORKFLOW_WORKER_CONCURRENCY", "8"))
#: seconds Redis keeps a received, unacknowledged run from other workers (see below)
WORKFLOW_VISIBILITY_TIMEOUT = int(os.environ.get("WORKFLOW_VISIBILITY_TIMEOUT", str(12 * 3600)))
#: a foreach of this many items or more is spread over the workers (0: only blocks that say
#: ``distribute: true``; ``distribute: false`` keeps a block in its run's process)
WORKFLOW_DISTRIBUTE_ITEMS = int(os.environ.get("WORKFLOW_DISTRIBUTE_ITEMS", "0"))
#: items per chunk (one Celery task) of a spread foreach
WORKFLOW_DISTRIBUTE_CHUNK = int(os.environ.get("WORKFLOW_DISTRIBUTE_CHUNK", "25"))
#: chunks of one spread foreach out at once; its concurrency is shared between them (each runs
#: concurrency // spread items at once, at least one), so the cap holds across every worker
WORKFLOW_DISTRIBUTE_SPREAD = int(os.environ.get("WORKFLOW_DISTRIBUTE_SPREAD", "4"))
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "runs"
CELERY_TASK_IGNORE_RESULT = True  # a run's result is in the database: no result backend
CELERY_TASK_SERIALIZER = CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A run's message is acknowledged when the run has ended, not when a worker takes it: a worker
# that dies (kill -9, machine lost) leaves it unacknowledged, and it is delivered again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# ... but with acks_late, Redis also delivers a message again once it has been unacknowledged
# for the visibility timeout, although the first worker is still running it. Runs last minutes
# or hours, so the timeout is long (12 h by default; it only bounds how late a message lost
# with its worker before the run started comes back). A message delivered twice never runs a
# run twice: the lease on the run's row (renewed by a heartbeat) lets only one process run it,
# and a worker that died is replaced through the lease within WORKFLOW_LEASE_SECONDS, not
# through redelivery.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": WORKFLOW_VISIBILITY_TIMEOUT,
                                   "global_keyprefix": WORKFLOW_REDIS_PREFIX}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # take a run only when a thread is free for it
# threads: each waits for its run on the process's one event loop, where runs interleave as they
# do in daphne; CPU-bound `python` steps run in the process pool (WORKFLOW_PYTHON_WORKERS) anyway
CELERY_WORKER_POOL = "threads"
CELERY_WORKER_CONCURRENCY = WORKFLOW_WORKER_CONCURRENCY
# a lost broker connection does not stop the runs in progress: they write to the database
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Failed logins are throttled (django-axes): after AXES_FAILURE_LIMIT failures for one user
# name from one address, that pair is refused (even the right password) until the cool-off
# has passed; each further failure restarts it. The page answers 429.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("DJANGO_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("DJANGO_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_VERBOSE = False
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "static"
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- the engine -------------------------------------------------------------------------------
#: dotted ``module:function`` patterns that ``python`` steps may call
WORKFLOW_PYTHON_ALLOWED = env_list("WORKFLOW_PYTHON_ALLOWED", "engine.functions.*,examples.functions.*")
WORKFLOW_THREADS = int(os.environ.get("WORKFLOW_THREADS", "32"))
#: worker processes for `python` steps (a timeout or cancel kills the call's process); default: one per core
WORKFLOW_PYTHON_WORKERS = int(os.environ.get("WORKFLOW_PYTHON_WORKERS", "0")) or os.cpu_count() or 1
WORKFLOW_DEPTH = int(os.environ.get("WORKFLOW_DEPTH", "5"))
#: budgets: what one run may spend before it is stopped (failed, with the budget named)
WORKFLOW_MAX_STEPS = int(os.environ.get("WORKFLOW_MAX_STEPS", "1000000"))  # action steps executed
WORKFLOW_MAX_ITEMS = int(os.environ.get("WORKFLOW_MAX_ITEMS", "100000"))  # items of one foreach
WORKFLOW_MAX_RUN_ITEMS = int(os.environ.get("WORKFLOW_MAX_RUN_ITEMS", "1000000"))  # foreach items in a run
WORKFLOW_MAX_OUTPUT_BYTES = int(os.environ.get("WORKFLOW_MAX_OUTPUT_BYTES", str(256 * 1024 * 1024)))
WORKFLOW_MAX_STEP_OUTPUT_BYTES = int(os.environ.get("WORKFLOW_MAX_STEP_OUTPUT_BYTES", str(32 * 1024 * 1024)))
WORKFLOW_MAX_SUB_RUNS = int(os.environ.get("WORKFLOW_MAX_SUB_RUNS", "1000"))  # workflow steps started
#: seconds between a run's frames to its watchers at most (a frame carries every event written
#: since the last): 0.03 is at most ~33 messages a second a run, and an event waits at most that
#: long once stored (builder/recorder.py)
WORKFLOW_STREAM_INTERVAL = max(float(os.environ.get("WORKFLOW_STREAM_INTERVAL", "0.03")), 0.01)
#: who besides staff may read the server's WORKFLOW_SECRET_* secrets: usernames, group:NAME, or *
WORKFLOW_ENV_SECRETS_FOR = env_list("WORKFLOW_ENV_SECRETS_FOR", "")
#: a run's lease: its process renews it every third of this, and the recovery loops look every
#: third of it; a run whose process stopped is taken over within 4/3 of this (20 s: ~27 s), on
#: the same host at the next look (at most a third of it)
WORKFLOW_LEASE_SECONDS = float(os.environ.get("WORKFLOW_LEASE_SECONDS", "20"))
#: a global limit's slot (skill concurrency, http host_concurrency) held by a celery worker is a
#: lease of this many seconds, renewed while held: a killed worker's slot comes back after it
WORKFLOW_THROTTLE_LEASE = float(os.environ.get("WORKFLOW_THROTTLE_LEASE", "30"))
#: the seconds a cancelled (or timed-out) run still gets for its ``finally`` steps
WORKFLOW_FINALLY_GRACE = float(os.environ.get("WORKFLOW_FINALLY_GRACE", "30"))
#: what happens to such a run: "resume" (go on from its stored steps) or "interrupt" (mark it
#: interrupted, for a person to resume)
WORKFLOW_RECOVERY = os.environ.get("WORKFLOW_RECOVERY", "resume")
#: runs of one user executing at once in a process; later ones wait, queued
WORKFLOW_RUNS_PER_USER = int(os.environ.get("WORKFLOW_RUNS_PER_USER", "4"))
#: schedules (builder/scheduler.py): the server runs the scheduler loop (default: on in the
#: embedded mode; the celery mode runs ``manage.py runscheduler`` instead), every INTERVAL
#: seconds; a slot handled more than LATE seconds after its time was missed (nothing ran)
WORKFLOW_SCHEDULER = env_bool("WORKFLOW_SCHEDULER", WORKFLOW_EXECUTION == "embedded")
WORKFLOW_SCHEDULER_INTERVAL = float(os.environ.get("WORKFLOW_SCHEDULER_INTERVAL", "5"))
WORKFLOW_SCHEDULER_LATE = float(os.environ.get("WORKFLOW_SCHEDULER_LATE", "60"))
#: tests and the bench only: a fake clock, {"start": ISO, "at": epoch seconds, "speed": n}
WORKFLOW_SCHEDULER_CLOCK = os.environ.get("WORKFLOW_SCHEDULER_CLOCK", "")
#: named SQL connections for ``sql`` steps: {name: {"url": ..., "writable": false}}; the
#: environment variable WORKFLOW_SQL_CONNECTIONS (a JSON object) adds to or replaces these
#: hosts or networks (CIDR) that ``http`` steps may call although they are private or loopback
WORKFLOW_HTTP_ALLOW = env_list("WORKFLOW_HTTP_ALLOW", "")
WORKFLOW_HTTP_MAX_BYTES = int(os.environ.get("WORKFLOW_HTTP_MAX_BYTES", str(10 * 1024 * 1024)))
WORKFLOW_HTTP_HOST_CONCURRENCY = int(os.environ.get("WORKFLOW_HTTP_HOST_CONCURRENCY", "32"))
#: webhooks (builder/hooks_views.py): the largest JSON body, and requests a token may make
#: per fixed window ("60/min", "10/second", "1000/hour"; "0": no limit)
WORKFLOW_WEBHOOK_MAX_BYTES = int(os.environ.get("WORKFLOW_WEBHOOK_MAX_BYTES", str(256 * 1024)))
WORKFLOW_WEBHOOK_RATE = os.environ.get("WORKFLOW_WEBHOOK_RATE", "60/min")
#: model connections for ``llm`` steps: {name: {"base_url", "api_key", "model"}}; by default the
#: project's fake OpenAI-compatible server (examples/fake_llm.py, started by `make run`)
WORKFLOW_LLM_CONNECTIONS = {
    "default": {"base_url": os.environ.get("WORKFLOW_LLM_BASE_URL", "http://127.0.0.1:8090/v1"),
                "api_key": os.environ.get("WORKFLOW_LLM_API_KEY", ""), "model": "fake-1"},
    **json.loads(os.environ.get("WORKFLOW_LLM_CONNECTIONS", "{}")),
}
WORKFLOW_SQL_CONNECTIONS = {
    "examples": {"url": f"sqlite:///{BASE_DIR / 'examples' / 'data' / 'sales.sqlite3'}", "writable": False},
    **json.loads(os.environ.get("WORKFLOW_SQL_CONNECTIONS", "{}")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {"daphne.server": {"level": "INFO"}},  # "Listening on ..." at start-up
}
