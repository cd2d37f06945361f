"""Admin: skills (validated on save, enable/disable), workflows with versions, runs and approvals read-only."""

from django import forms
from django.contrib import admin, messages

from .models import Approval, Run, Secret, Skill, StepRun, Workflow, WorkflowVersion


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
    list_display = ["name", "title", "category", "action", "concurrency", "enabled", "updated_at"]
    list_filter = ["enabled", "category", "action"]
    search_fields = ["name", "title", "description"]
    actions = ["enable", "disable"]
    fieldsets = [
        (None, {"fields": ["name", "title", "description", "category", "enabled"]}),
        ("What it runs", {"fields": ["action", "config", "concurrency"]}),
        ("Schemas", {"fields": ["input_schema", "output_schema"]}),
    ]

    @admin.action(description="Enable the selected skills")
    def enable(self, request, queryset):
        count = queryset.update(enabled=True)
        self.message_user(request, f"{count} skill(s) enabled.", messages.SUCCESS)

    @admin.action(description="Disable the selected skills")
    def disable(self, request, queryset):
        count = queryset.update(enabled=False)
        self.message_user(request, f"{count} skill(s) disabled.", messages.SUCCESS)


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
