"""Admin pages for history and tokens: events are readable here, never edited."""

from django.contrib import admin

from core.models import ApiToken, Event


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_name", "kind", "source", "deployment_ref", "item_key", "before", "after"]
    list_filter = ["kind", "source"]
    search_fields = ["item_key", "actor_name", "note"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "scope", "created_at", "last_used_at", "expires_at"]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False  # `manage.py create_api_token` shows the token once; the admin never sees it
