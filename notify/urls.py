from django.urls import path

from notify import views

urlpatterns = [
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/subscriptions/", views.subscription_create, name="subscription-create"),
    path("notifications/subscriptions/<int:pk>/delete/", views.subscription_delete, name="subscription-delete"),
    path("notifications/deliveries/<uuid:pk>/redeliver/", views.delivery_redeliver, name="delivery-redeliver"),
    path("notifications/personal/", views.personal_email, name="notifications-personal"),
]
