from django.contrib import admin

from probes.models import Environment, EnvironmentSecret, ProbeRun, Service


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]


class SecretInline(admin.TabularInline):
    """Names only: values are write-only (set them on the environment page or through the API)."""

    model = EnvironmentSecret
    fields = ["name", "updated_at"]
    readonly_fields = fields
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ["service", "name", "base_url", "ssh_host"]
    list_filter = ["service"]
    readonly_fields = ["ssh_host_key"]  # trusted through the recorded "trust this key" action only
    inlines = [SecretInline]


@admin.register(ProbeRun)
class ProbeRunAdmin(admin.ModelAdmin):
    list_display = ["id", "deployment", "item", "status", "requested_at", "duration_ms"]
    list_filter = ["status"]
    list_select_related = ["deployment", "item"]
    readonly_fields = [field.name for field in ProbeRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
