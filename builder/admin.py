"""Admin: skills (validated on save, enable/disable, used by, try it, history, export/import), workflows with versions, runs and approvals read-only."""

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.actions import delete_selected
from django.db import transaction
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from . import skill_history, skill_transfer_views, skill_try, skill_usage

from .models import ApiToken, Approval, Run, Secret, Skill, StepRun, Workflow, WorkflowVersion
from .skill_form import SkillForm, built_in_actions
from .skill_try import ROW_ID


def _staff(request) -> bool:
    return request.user.is_active and request.user.is_staff


class StaffView:
    """Staff see these (no per-model permission needed beyond being staff)."""

    def has_module_permission(self, request):
        return _staff(request)

    def has_view_permission(self, request, obj=None):
        return _staff(request)


class StaffOnly(StaffView):
    """Staff manage these."""

    def has_add_permission(self, request, obj=None):
        return _staff(request)

    has_change_permission = has_delete_permission = has_add_permission


@admin.register(Skill)
class SkillAdmin(StaffOnly, admin.ModelAdmin):
    """Skills: the action's parameters as a form, Used by, Try it, history with restore,
    export and import (the work is in the builder/skill_*.py modules)."""

    form = SkillForm
    list_display = ["name", "title", "category", "action", "concurrency", "enabled", "updated_at"]
    list_filter = ["enabled", "category", "action"]
    search_fields = ["name", "title", "description"]
    actions = ["enable", "disable", "export"]
    readonly_fields = ["used_by"]
    fieldsets = [
        (None, {"fields": ["name", "title", "description", "category", "enabled"]}),
        ("What it runs", {"fields": ["action", "config", "concurrency"]}),
        ("Schemas", {"fields": ["input_schema", "output_schema"]}),
        ("Used by", {"fields": ["used_by"]}),
    ]

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("export/", wrap(partial(skill_transfer_views.export_view, self)), name="builder_skill_export"),
            path("import/", wrap(partial(skill_transfer_views.import_view, self)), name="builder_skill_import"),
            path("deleted/", wrap(partial(skill_history.deleted_view, self)), name="builder_skill_deleted"),
            path("<path:object_id>/try/", skill_try.view(self), name="builder_skill_try"),
            path("<path:object_id>/history/<path:change_id>/restore/",
                 wrap(partial(skill_history.restore_view, self)), name="builder_skill_restore"),
            *super().get_urls(),
        ]

    def history_view(self, request, object_id, extra_context=None):
        return skill_history.history_view(self, request, object_id)

    def render_change_form(self, request, context, *args, **kwargs):
        context["action_schemas"] = built_in_actions()
        return super().render_change_form(request, context, *args, **kwargs)

    @admin.display(description="Used by")
    def used_by(self, obj):
        if obj is None or obj.pk is None:
            return "saved skills list the workflows whose current version uses them"
        workflows = skill_usage.users_of(obj.name)
        rows = format_html_join("", '<li><a href="{}">{}</a> · {} · v{}</li>',
                                ((reverse("editor", args=[w.pk]), w.name, w.owner.get_username(), w.version)
                                 for w in workflows))
        return format_html('<p data-testid="used-by-summary">{}</p><ul class="used-by">{}</ul>',
                           skill_usage.summary(workflows), rows)

    def save_model(self, request, obj, form, change):
        before = skill_history.snapshot(Skill.objects.filter(pk=obj.pk).first()) if change else None
        super().save_model(request, obj, form, change)
        kind = "created" if not change else _kind(before, obj)
        skill_history.record(obj, request.user, kind, before)

    def delete_model(self, request, obj):
        before = skill_history.snapshot(obj)
        skill_history.record(None, request.user, "deleted", before, name=obj.name)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for skill in queryset:
            skill_history.record(None, request.user, "deleted", skill_history.snapshot(skill), name=skill.name)
        super().delete_queryset(request, queryset)

    def delete_view(self, request, object_id, extra_context=None):
        skill = Skill.objects.filter(pk=object_id).first() if ROW_ID.fullmatch(str(object_id)) else None
        breaks = skill_usage.impact([(skill.name, None, skill.pk)]) if skill else None
        return super().delete_view(request, object_id, {**(extra_context or {}), "breaks": breaks})

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:  # the same action, its confirmation listing what it breaks
            _, name, description = actions["delete_selected"]
            actions["delete_selected"] = (SkillAdmin._delete_selected, name, description)
        return actions

    def _delete_selected(self, request, queryset):
        response = delete_selected(self, request, queryset)
        if isinstance(response, TemplateResponse):  # the confirmation page (not rendered yet)
            response.context_data["breaks"] = skill_usage.impact([(s.name, None, s.pk) for s in queryset])
        return response

    @admin.action(description="Enable the selected skills")
    def enable(self, request, queryset):
        count = self._switch(request, queryset, True)
        self.message_user(request, f"{count} skill(s) enabled.", messages.SUCCESS)

    @admin.action(description="Disable the selected skills")
    def disable(self, request, queryset):
        skills = list(queryset)
        breaks = skill_usage.impact([(s.name, None, s.pk) for s in skills if s.enabled])
        if breaks and request.POST.get("confirm_breaking") != breaks.fingerprint:
            context = {**self.admin_site.each_context(request), "opts": Skill._meta, "skills": skills,
                       "breaks": breaks, "title": "Disable skills used by workflows?",
                       "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME}
            return TemplateResponse(request, "admin/builder/skill/disable_confirmation.html", context)
        count = self._switch(request, queryset, False)
        self.message_user(request, f"{count} skill(s) disabled.", messages.SUCCESS)
        return None

    @admin.action(description="Export selected skills as YAML")
    def export(self, request, queryset):
        return skill_transfer_views.export_response(queryset.order_by("category", "name"))

    @staticmethod
    def _switch(request, queryset, enabled: bool) -> int:
        """Turn skills on or off, each change kept in its history."""
        count = 0
        with transaction.atomic():
            for skill in queryset.exclude(enabled=enabled):
                before = skill_history.snapshot(skill)
                skill.enabled = enabled
                skill.save(update_fields=["enabled", "updated_at"])
                skill_history.record(skill, request.user, "enabled" if enabled else "disabled", before)
                count += 1
        return count


def _kind(before: dict | None, skill: Skill) -> str:
    """"enabled"/"disabled" when only that changed, else "changed"."""
    after = skill_history.snapshot(skill)
    if before and {k for k in after if after[k] != before.get(k)} == {"enabled"}:
        return "enabled" if skill.enabled else "disabled"
    return "changed"


class ReadOnly(StaffView):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class VersionInline(ReadOnly, admin.TabularInline):
    model = WorkflowVersion
    fields = ["number", "message", "author", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Workflow)
class WorkflowAdmin(StaffOnly, admin.ModelAdmin):
    list_display = ["name", "title", "owner", "version", "updated_at"]
    list_filter = ["owner"]
    search_fields = ["name", "title"]
    readonly_fields = ["version", "created_at", "updated_at"]
    inlines = [VersionInline]


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["workflow", "number", "author", "message", "created_at"]
    readonly_fields = ["workflow", "number", "yaml", "author", "message", "created_at"]


class StepInline(ReadOnly, admin.TabularInline):
    model = StepRun
    fields = ["path", "attempt", "status", "duration_ms", "error"]
    readonly_fields = fields
    extra = 0
    max_num = 0

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(path__contains="[")


@admin.register(Run)
class RunAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["id", "workflow", "status", "mode", "started_by", "created_at", "duration_ms"]
    list_filter = ["status", "mode"]
    readonly_fields = [f.name for f in Run._meta.fields]
    inlines = [StepInline]


class SecretForm(forms.ModelForm):
    """The value is write-only: never rendered back; left empty on edit, it stays as it was."""

    value = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False, strip=False,
                            help_text="write-only: it is never displayed again; leave empty to keep it")

    class Meta:
        model = Secret
        fields = ["owner", "name", "value", "description", "shared_with", "shared_with_groups"]

    def clean_value(self):
        value = self.cleaned_data["value"]
        if not value:
            if self.instance.pk:
                return self.instance.value
            raise forms.ValidationError("a new secret needs a value")
        return value


@admin.register(Secret)
class SecretAdmin(StaffOnly, admin.ModelAdmin):
    """Staff manage every user's secrets and share them with named users or groups."""

    form = SecretForm
    list_display = ["name", "owner", "description", "updated_at"]
    list_filter = ["owner"]
    search_fields = ["name", "description", "owner__username"]
    filter_horizontal = ["shared_with", "shared_with_groups"]
    autocomplete_fields = ["owner"]

    def get_changeform_initial_data(self, request):
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}


@admin.register(Approval)
class ApprovalAdmin(ReadOnly, admin.ModelAdmin):
    """Decisions are the approvers' (the API): staff only look."""

    list_display = ["id", "run", "path", "decision", "decided_by", "requested_at", "deadline", "decided_at"]
    list_filter = ["decision"]
    search_fields = ["path", "message", "approver_names"]
    readonly_fields = [f.name for f in Approval._meta.fields] + ["approvers"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnly, admin.ModelAdmin):
    """Every user's API tokens: who has which, when each was last used; staff revoke them. They
    are made on the owner's Tokens page (shown once there); only their sha256 is stored, never
    shown here."""

    list_display = ["name", "owner", "prefix", "state", "created_at", "last_used_at", "expires_at"]
    list_filter = ["revoked_at", "owner"]
    search_fields = ["name", "prefix", "owner__username"]
    fields = ["owner", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="state")
    def state(self, token: ApiToken) -> str:
        if token.revoked_at is not None:
            return "revoked"
        if token.expires_at is not None and token.expires_at <= timezone.now():
            return "expired"
        return "active"

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} token(s) revoked; their owners' scripts get 401 from now on.",
                          messages.SUCCESS)
