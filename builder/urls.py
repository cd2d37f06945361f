from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from . import views
from .api import api

urlpatterns = [
    path("", views.workflow_list, name="home"),
    path("workflows/new/", views.new_workflow, name="new-workflow"),
    path("workflows/import/", views.import_workflow, name="import-workflow"),
    path("workflows/<int:workflow_id>/", views.editor, name="editor"),
    path("workflows/<int:workflow_id>/duplicate/", views.duplicate_workflow, name="duplicate-workflow"),
    path("workflows/<int:workflow_id>/delete/", views.delete_workflow, name="delete-workflow"),
    path("runs/<int:run_id>/", views.monitor, name="monitor"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]
