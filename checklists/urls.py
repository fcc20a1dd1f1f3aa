from django.urls import path, re_path

from checklists.views import (
    checklists,
    compare,
    dashboard,
    deployments,
    environments,
    history,
    me,
    people,
    reports,
    services,
    teams,
)

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("deployments/<int:pk>/", deployments.deployment_detail, name="deployment"),
    path("deployments/<int:pk>/items/", deployments.items_bulk, name="deployment-items"),
    path("deployments/<int:pk>/items/<str:key>/", deployments.item, name="item"),
    path("deployments/<int:pk>/items/<str:key>/approve/", deployments.waiver_approval, name="item-approve"),
    path("deployments/<int:pk>/items/<str:key>/comments/", deployments.comment, name="item-comment"),
    path("deployments/<int:pk>/signoffs/", deployments.signoff, name="deployment-signoff"),
    path("deployments/<int:pk>/reopen/", deployments.reopen, name="deployment-reopen"),
    path("deployments/<int:pk>/due/", deployments.due, name="deployment-due"),
    path("deployments/<int:pk>/history/", history.deployment_history, name="deployment-history"),
    path("deployments/<int:a>/compare/<int:b>/", compare.compare, name="deployment-compare"),
    path("deployments/<int:pk>/promote/", compare.promote, name="deployment-promote"),
    re_path(
        r"^deployments/(?P<pk>[0-9]+)/report\.(?P<fmt>json|md|pdf|xml)$", reports.deployment_report, name="deployment-report"
    ),
    path("services/<int:pk>/", services.service_detail, name="service"),
    path("services/<int:pk>/team/", services.service_team, name="service-team"),
    path("environments/new/", environments.environment_new, name="environment-new"),
    path("environments/<int:pk>/", environments.environment_detail, name="environment"),
    path("environments/<int:pk>/edit/", environments.environment_edit, name="environment-edit"),
    path("environments/<int:pk>/secrets/", environments.environment_secret, name="environment-secret"),
    path("environments/<int:pk>/ssh-hosts/", environments.environment_ssh_hosts, name="environment-ssh-hosts"),
    path("environments/<int:pk>/deployments/", environments.environment_deployment_create, name="environment-deploy"),
    path("checklists/", checklists.checklist_list, name="checklists"),
    path("checklists/<slug:slug>/", checklists.checklist_detail, name="checklist"),
    path("checklists/<slug:slug>/diff/", checklists.checklist_diff, name="checklist-diff"),
    path("people/", people.people, name="people"),
    path("me/", me.me, name="me"),
    path("teams/", teams.teams, name="teams"),
    path("teams/<slug:slug>/", teams.team_detail, name="team"),
    path("teams/<slug:slug>/members/", teams.team_members, name="team-members"),
]
