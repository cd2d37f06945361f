"""The Celery app of the celery execution mode (``WORKFLOW_EXECUTION=celery``, docs/deploy.md).

``celery -A builder worker`` finds ``app`` here. It is configured from the Django settings
(the ``CELERY_*`` names in builder/settings.py: Redis as the broker, late acknowledgement, a
thread pool of ``WORKFLOW_WORKER_CONCURRENCY``), so a worker needs exactly the environment a
web process has. Nothing imports this module in the embedded mode: ``builder/__init__.py``
leaves it alone, and the web process imports it (through ``builder.tasks``) only to enqueue.
"""

import os

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "builder.settings")

app = Celery("builder", include=["builder.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")


@worker_init.connect
def _refuse_embedded(**_) -> None:
    """A worker of an embedded installation would wait for runs that never come: it stops, saying
    why (an exception here would only be logged: Celery's signals catch them)."""
    import sys

    from django.conf import settings

    if settings.WORKFLOW_EXECUTION != "celery":
        sys.exit("WORKFLOW_EXECUTION is 'embedded': runs execute in the web process, never on a worker; set "
                 "WORKFLOW_EXECUTION=celery (with DATABASE_URL and REDIS_URL) in every process (docs/deploy.md)")


@worker_ready.connect
@worker_process_init.connect
def _freeze(**_) -> None:
    """Move what start-up made (Django, the apps, the engine's modules) out of the collector's
    reach, as builder/asgi.py does for the web process: a run's collections then scan only what
    runs made. worker_ready: the main process (the thread pool); worker_process_init: a prefork child."""
    import gc

    gc.collect()
    gc.freeze()
