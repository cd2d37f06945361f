"""The test runs' settings: the builder's own, with a secret key for the test processes.

With ``DJANGO_DEBUG`` off (the default, as in CI) the builder refuses to start without a
real ``DJANGO_SECRET_KEY``. The suite is not a deployment, so it sets one here, in the
environment too: the servers and commands the tests start inherit it.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-key-4c1f0e7a9b2d8e3f6a5c4b3a2918f7e6d5c4b3a29")

from builder.settings import *  # noqa: E402,F403
