"""ASGI entry point (daphne): HTTP through Django, websockets through Channels."""

import gc
import os
import sys

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

if "daphne.server" in sys.modules:  # served by daphne (Twisted): not when imported elsewhere
    from twisted.web.http import HTTPChannel

    # Twisted drops a request line over 16 KiB without an answer, and answers a bare 400 (no
    # body, no type) past 16 KiB of headers. A query the API refuses must get its JSON 422, so
    # both are 128 KiB: a URL of the longest query parameters, each character percent-encoded, fits.
    HTTPChannel.MAX_LENGTH = HTTPChannel.totalHeadersSize = 128 * 1024

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
