"""Environment pages: an environment's settings and its deployments; for admins, the forms that change them."""

import re

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checklists.deployments import deployment_create
from checklists.environments import (
    environment_create,
    environment_update,
    host_key_fingerprint,
    secret_set,
    ssh_host_add,
    ssh_host_remove,
)
from checklists.forms import DeploymentCreateForm
from checklists.models import Environment, Service
from checklists.selectors import deployment_list, environment_for, environment_secret_names
from checklists.views.common import form_error, permissions, signed_in, viewer_required
from core import roles
from core.models import Source, Team

RECENT_DEPLOYMENTS = 50


@require_GET
@signed_in
def environment_detail(request, pk: int):
    environment = environment_for(request.user, pk)
    listed = deployment_list(actor=request.user, environment_id=environment.pk, limit=RECENT_DEPLOYMENTS)
    deployments = [(entry, older.deployment if older else None) for entry, older in zip(listed, [*listed[1:], None])]
    return render(
        request,
        "checklists/environment.html",
        {
            "environment": environment,
            "deployments": deployments,
            "secret_names": environment_secret_names(environment),
            "ssh_hosts": ssh_hosts_info(environment),
            "form": DeploymentCreateForm(),
            "can": permissions(request.user, team=environment.owner_team_id),
        },
    )


def ssh_hosts_info(environment: Environment) -> list[dict]:
    """Each SSH host with its pinned key's fingerprint (or why there is none)."""
    rows = []
    for host in environment.ssh_hosts.all():
        row = {"host": host, "fingerprint": "", "error": ""}
        if host.host_key:
            row["fingerprint"] = host_key_fingerprint(host.host_key)
            if not row["fingerprint"]:
                row["error"] = "The pinned SSH host key cannot be read; trust the host's key again."
        rows.append(row)
    return rows


@require_POST
@signed_in
def environment_deployment_create(request, pk: int):
    environment = environment_for(request.user, pk)
    form = DeploymentCreateForm(request.POST)
    if not form.is_valid():
        raise form_error(form)
    deployment = deployment_create(
        environment=environment,
        checklist_slug=form.cleaned_data["checklist"].slug,
        release=form.cleaned_data["release"],
        due_at=form.cleaned_data["due_at"],
        actor=request.user,
        source=Source.WEB,
    )
    messages.success(request, f"Deployment {deployment.release} created.")
    return redirect("deployment", pk=deployment.pk)


# --- Environments, for admins ---------------------------------------------------


class EnvironmentForm(forms.Form):
    service = forms.CharField(label="Service", max_length=200)
    team = forms.CharField(label="Team of a new service", required=False, max_length=100)
    name = forms.CharField(label="Name", max_length=100)
    base_url = forms.CharField(label="Base URL", max_length=500)
    allowed_hosts = forms.CharField(label="Other hosts probes may reach", required=False, widget=forms.Textarea)
    variables = forms.CharField(label="Variables", required=False, widget=forms.Textarea)
    dns_servers = forms.CharField(label="DNS servers", required=False)
    position = forms.IntegerField(label="Position", required=False, min_value=0, max_value=999)
    ssh_role = forms.CharField(label="SSH host role", required=False, max_length=50)
    ssh_host = forms.CharField(label="SSH host", required=False, max_length=255)
    ssh_port = forms.IntegerField(label="SSH port", required=False, min_value=1, max_value=65535)
    ssh_username = forms.CharField(label="SSH user", required=False, max_length=100)
    ssh_private_key = forms.CharField(label="SSH private key", required=False, strip=False, widget=forms.Textarea)
    ssh_password = forms.CharField(label="SSH password", required=False, strip=False)

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:  # SSH hosts are added and removed on their own once the environment exists
            for name in ("service", "team", "name", "ssh_role", "ssh_host", "ssh_port", "ssh_username", "ssh_private_key", "ssh_password"):
                del self.fields[name]

    def clean_allowed_hosts(self) -> list[str]:
        return [host for host in re.split(r"[\s,]+", self.cleaned_data["allowed_hosts"]) if host]

    def clean_dns_servers(self) -> list[str]:
        return [server for server in re.split(r"[\s,]+", self.cleaned_data["dns_servers"]) if server]

    def clean_variables(self) -> dict:
        variables = {}
        for number, line in enumerate(self.cleaned_data["variables"].splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep:
                raise forms.ValidationError(f"Line {number}: write one `NAME=value` per line.")
            variables[name.strip()] = value.strip()
        return variables

    def ssh(self) -> dict | None:
        data = self.cleaned_data
        if not data.get("ssh_host"):
            return None
        ssh = {
            "role": data.get("ssh_role", ""), "host": data["ssh_host"], "port": data.get("ssh_port") or 22,
            "username": data.get("ssh_username", ""),
        }
        if data.get("ssh_private_key", "").strip():
            ssh["private_key"] = data["ssh_private_key"].strip() + "\n"
        if data.get("ssh_password"):
            ssh["password"] = data["ssh_password"]
        return ssh


class SecretForm(forms.Form):
    name = forms.CharField(label="Secret name", max_length=100)
    value = forms.CharField(label="New value", strip=False, widget=forms.Textarea)


def _initial(environment: Environment) -> dict:
    return {
        "base_url": environment.base_url,
        "allowed_hosts": "\n".join(environment.allowed_hosts or []),
        "variables": "\n".join(f"{name}={value}" for name, value in (environment.variables or {}).items()),
        "dns_servers": " ".join(environment.dns_servers or []),
        "position": environment.position,
    }


@require_http_methods(["GET", "POST"])
@viewer_required
def environment_new(request):
    roles.require(request.user, "manage", team=roles.ANY)
    form = EnvironmentForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            raise form_error(form)
        secret_name = request.POST.get("secret-name", "").strip()
        secret_value = request.POST.get("secret-value", "")
        data = form.cleaned_data
        environment = environment_create(
            service_name=data["service"],
            name=data["name"],
            base_url=data["base_url"],
            allowed_hosts=data["allowed_hosts"],
            variables=data["variables"],
            secrets={secret_name: secret_value} if secret_name or secret_value else None,
            ssh=form.ssh(),
            dns_servers=data["dns_servers"],
            position=data["position"],
            # the form always sends a team; it matters only for a new service
            team=None if Service.objects.filter(name=data["service"].strip()).exists() else data["team"] or None,
            actor=request.user,
            source=Source.WEB,
        )
        messages.success(request, f"Environment {environment} created.")
        return redirect("environment-edit", pk=environment.pk)
    managed = roles.managed_teams(request.user)
    services = Service.objects.order_by("name")
    teams = Team.objects.order_by("name")
    if managed is not roles.ALL:
        services = services.filter(team__in=sorted(managed))
        teams = teams.filter(pk__in=sorted(managed))
    return render(request, "checklists/environment_form.html", {
        "form": form, "services": services.values_list("name", flat=True), "teams": teams, "creating": True,
        "teamless_allowed": managed is roles.ALL,
    })


@require_http_methods(["GET", "POST"])
@signed_in
def environment_edit(request, pk: int):
    environment = environment_for(request.user, pk, action="manage")
    if request.method == "POST":
        form = EnvironmentForm(request.POST, editing=True)
        if not form.is_valid():
            raise form_error(form)
        data = form.cleaned_data
        environment_update(
            environment=environment,
            base_url=data["base_url"],
            allowed_hosts=data["allowed_hosts"],
            variables=data["variables"],
            dns_servers=data["dns_servers"],
            position=data["position"],
            actor=request.user,
            source=Source.WEB,
        )
        messages.success(request, "Settings saved.")
        return redirect("environment", pk=pk)
    return render(request, "checklists/environment_form.html", edit_context(environment))


def edit_context(environment: Environment, **extra) -> dict:
    return {
        "environment": environment,
        "form": EnvironmentForm(initial=_initial(environment), editing=True),
        "secret_names": environment_secret_names(environment),
        "ssh_hosts": ssh_hosts_info(environment),
        **extra,
    }


@require_POST
@signed_in
def environment_ssh_hosts(request, pk: int):
    """`action=add` adds an SSH host (role, host, port, user, key or password); `action=remove` removes one."""
    environment = environment_for(request.user, pk, action="manage")
    if request.POST.get("action") == "remove":
        ssh_host_remove(
            environment=environment, ssh_host_id=_int(request.POST.get("ssh_host")), actor=request.user, source=Source.WEB
        )
        messages.success(request, "SSH host removed.")
        return redirect("environment-edit", pk=pk)
    form = SSHHostForm(request.POST)
    if not form.is_valid():
        raise form_error(form)
    ssh_host = ssh_host_add(environment=environment, ssh=form.ssh(), actor=request.user, source=Source.WEB)
    messages.success(request, f"SSH host {ssh_host} added. Fetch its key and trust it before ssh probes can run there.")
    return redirect("environment-edit", pk=pk)


class SSHHostForm(forms.Form):
    role = forms.CharField(label="Role", required=False, max_length=50)
    host = forms.CharField(label="Host", max_length=255)
    port = forms.IntegerField(label="Port", required=False, min_value=1, max_value=65535)
    username = forms.CharField(label="User", max_length=100)
    private_key = forms.CharField(label="Private key", required=False, strip=False, widget=forms.Textarea)
    password = forms.CharField(label="Password", required=False, strip=False)

    def ssh(self) -> dict:
        data = self.cleaned_data
        ssh = {"role": data["role"], "host": data["host"], "port": data.get("port") or 22, "username": data["username"]}
        if data.get("private_key", "").strip():
            ssh["private_key"] = data["private_key"].strip() + "\n"
        if data.get("password"):
            ssh["password"] = data["password"]
        return ssh


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@require_POST
@signed_in
def environment_secret(request, pk: int):
    environment = environment_for(request.user, pk, action="manage")
    form = SecretForm(request.POST)
    if not form.is_valid():
        raise form_error(form)
    secret_set(
        environment=environment, name=form.cleaned_data["name"].strip(), value=form.cleaned_data["value"],
        actor=request.user, source=Source.WEB,
    )
    messages.success(request, f"Secret {form.cleaned_data['name'].strip()} saved. Its value is never shown again.")
    return redirect("environment-edit", pk=pk)
