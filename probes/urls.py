from django.urls import path

from probes import views

urlpatterns = [
    path("environments/<int:pk>/host-key/", views.environment_host_key, name="environment-host-key"),
    path("deployments/<int:pk>/runs/", views.deployment_runs, name="deployment-runs"),
]
