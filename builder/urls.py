from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import path, register_converter
from django.views.generic import RedirectView

from . import views
from .api import api
from .hooks_views import hook


class IdConverter:
    """An object id: 1 to 18 digits (a bigger number is no row: 404, never a database overflow)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    path("", views.workflow_list, name="home"),
    path("workflows/new/", views.new_workflow, name="new-workflow"),
    path("workflows/import/", views.import_workflow, name="import-workflow"),
    path("workflows/<id:workflow_id>/", views.editor, name="editor"),
    path("workflows/<id:workflow_id>/duplicate/", views.duplicate_workflow, name="duplicate-workflow"),
    path("workflows/<id:workflow_id>/delete/", views.delete_workflow, name="delete-workflow"),
    path("runs/", views.run_list, name="runs"),
    path("runs/<id:run_id>/", views.monitor, name="monitor"),
    path("tokens/", views.tokens_page, name="tokens"),
    path("tokens/<id:token_id>/revoke/", views.revoke_token, name="revoke-token"),
    path("hooks/<str:token>/", hook, name="webhook"),
    # pages without the icon link (the admin's) ask for /favicon.ico
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]
