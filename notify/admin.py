from django.contrib import admin

from notify.models import Attempt, Delivery, Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("id", "channel", "target", "team", "service", "environment", "created_at")
    exclude = ("secret_encrypted", "target_encrypted")


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    readonly_fields = ("number", "at", "code", "error", "duration_ms")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "subscription", "recipient", "status", "attempts", "last_code", "created_at")
    list_filter = ("status", "kind")
    readonly_fields = [field.name for field in Delivery._meta.fields]
    inlines = [AttemptInline]
