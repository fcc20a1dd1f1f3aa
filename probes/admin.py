from django.contrib import admin

from probes.models import ProbeRun


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
