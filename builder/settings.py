"""Settings. Every deployment choice comes from the environment, never from code edits."""

import json
import os
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
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

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                  "CONFIG": {"hosts": [os.environ["REDIS_URL"]]}}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
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
WORKFLOW_DEPTH = int(os.environ.get("WORKFLOW_DEPTH", "5"))
#: named SQL connections for ``sql`` steps: {name: {"url": ..., "writable": false}}; the
#: environment variable WORKFLOW_SQL_CONNECTIONS (a JSON object) adds to or replaces these
#: hosts or networks (CIDR) that ``http`` steps may call although they are private or loopback
WORKFLOW_HTTP_ALLOW = env_list("WORKFLOW_HTTP_ALLOW", "")
WORKFLOW_HTTP_MAX_BYTES = int(os.environ.get("WORKFLOW_HTTP_MAX_BYTES", str(10 * 1024 * 1024)))
WORKFLOW_HTTP_HOST_CONCURRENCY = int(os.environ.get("WORKFLOW_HTTP_HOST_CONCURRENCY", "32"))
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
