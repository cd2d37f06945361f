"""ASGI entry point (daphne): HTTP through Django, websockets through Channels."""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "builder.settings")

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

# One machine, one process: static files are served here too (from the app folders).
django_app = ASGIStaticFilesHandler(get_asgi_application())

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from .execution import start_recovery  # noqa: E402
from .routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_app,
    "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
})

if os.environ.get("WORKFLOW_RECOVER_ON_START", "1") == "1":
    start_recovery()  # runs whose process stopped are taken over (builder/leases.py)

# What the imports made (Django, the apps, the engine: ~110k objects) lives as long as the
# process: out of the collector's reach, a full collection scans only what runs make. Measured
# on bench/streaming.py: the server's full collections took 364 ms (the longest 169 ms, a stall
# of every stream) without this, 88 ms (53 ms) with it.
gc.collect()
gc.freeze()
