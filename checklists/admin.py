"""Admin pages.  Versions and events are history: readable here, never edited."""

from django.contrib import admin

from checklists.models import (
    Checklist,
    ChecklistVersion,
    Deployment,
    Environment,
    EnvironmentSecret,
    Item,
    ItemState,
    Service,
    SignOff,
    SSHHost,
)
from core.admin import ReadOnlyAdmin


@admin.register(Checklist)
class ChecklistAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["slug"]


class ItemInline(admin.TabularInline):
    model = Item
    fields = ["key", "text", "optional", "probe"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ChecklistVersion)
class ChecklistVersionAdmin(ReadOnlyAdmin):
    list_display = ["checklist", "number", "title", "created_at", "created_by"]
    list_filter = ["checklist"]
    inlines = [ItemInline]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ["id", "release", "environment", "version", "status", "created_at"]
    list_filter = ["status", "environment"]
    search_fields = ["release"]
    readonly_fields = ["environment", "version", "release", "status", "created_at", "created_by", "signed_off_at"]

    def has_add_permission(self, request):
        return False  # deployments are made through the dashboard or the API, so their item states exist


@admin.register(ItemState)
class ItemStateAdmin(ReadOnlyAdmin):
    list_display = ["deployment", "item", "state", "updated_by_name", "updated_at"]
    list_filter = ["state"]
    list_select_related = ["deployment", "item"]


@admin.register(SignOff)
class SignOffAdmin(ReadOnlyAdmin):
    list_display = ["deployment", "role", "username", "at", "voided_at"]


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "created_at"]
    readonly_fields = ["team"]  # moved on the service page, where the move is recorded


class SecretInline(admin.TabularInline):
    """Names only: values are write-only (set them on the environment page or through the API)."""

    model = EnvironmentSecret
    fields = ["name", "updated_at"]
    readonly_fields = fields
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False


class SSHHostInline(admin.TabularInline):
    """Shown, never changed here: hosts, credentials and trusted keys change through the recorded actions."""

    model = SSHHost
    fields = ["role", "host", "port", "username", "host_key"]
    readonly_fields = fields
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ["service", "name", "base_url"]
    list_filter = ["service"]
    inlines = [SecretInline, SSHHostInline]
