from django.urls import include, path

from checklists.views import checklists, dashboard, deployments, history, people

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("deployments/<int:pk>/", deployments.deployment_detail, name="deployment"),
    path("deployments/<int:pk>/items/<str:key>/", deployments.item, name="item"),
    path("deployments/<int:pk>/signoffs/", deployments.signoff, name="deployment-signoff"),
    path("deployments/<int:pk>/reopen/", deployments.reopen, name="deployment-reopen"),
    path("deployments/<int:pk>/history/", history.deployment_history, name="deployment-history"),
    path("checklists/", checklists.checklist_list, name="checklists"),
    path("checklists/<slug:slug>/", checklists.checklist_detail, name="checklist"),
    path("checklists/<slug:slug>/diff/", checklists.checklist_diff, name="checklist-diff"),
    path("people/", people.people, name="people"),
    path("", include("probes.urls")),
]
