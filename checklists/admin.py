"""Admin pages.  Versions and events are history: readable here, never edited."""

from django.contrib import admin

from checklists.models import ApiToken, Checklist, ChecklistVersion, Deployment, Event, Item, ItemState, SignOff


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_name", "kind", "source", "deployment_ref", "item_key", "before", "after"]
    list_filter = ["kind", "source"]
    search_fields = ["item_key", "actor_name", "note"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False  # `manage.py create_api_token` shows the token once; the admin never sees it
