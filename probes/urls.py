from django.urls import path

from probes import views

urlpatterns = [
    path("environments/new/", views.environment_new, name="environment-new"),
    path("environments/<int:pk>/", views.environment_detail, name="environment"),
    path("environments/<int:pk>/edit/", views.environment_edit, name="environment-edit"),
    path("environments/<int:pk>/secrets/", views.environment_secret, name="environment-secret"),
    path("environments/<int:pk>/host-key/", views.environment_host_key, name="environment-host-key"),
    path("environments/<int:pk>/deployments/", views.environment_deployment_create, name="environment-deploy"),
    path("deployments/<int:pk>/runs/", views.deployment_runs, name="deployment-runs"),
]
