from django.urls import path

from checklists import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
