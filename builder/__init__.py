"""The Django project and app: settings, models, API, websockets, and the bridge to the engine."""
