"""The Django project and app: settings, models, API, websockets, and the bridge to the engine.

The celery mode's app lives in ``builder/celery.py``, where ``celery -A builder`` finds it by
itself; it is not imported here (as Celery's Django guide does), so that the embedded mode's
processes never load Celery, and a web process of the celery mode loads it only to enqueue.
"""
