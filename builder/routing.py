from django.urls import path

from .consumers import RunConsumer, WorkflowsConsumer

websocket_urlpatterns = [
    path("ws/runs/<int:run_id>/", RunConsumer.as_asgi()),
    path("ws/workflows/", WorkflowsConsumer.as_asgi()),
]
