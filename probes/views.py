"""The probe actions of the pages: run a deployment's probes, and read an SSH host's key to trust."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from checklists.environments import host_key_trust, ssh_host_check
from checklists.selectors import deployment_for, environment_for
from checklists.views.common import next_url, signed_in
from checklists.views.deployments import run_answer
from checklists.views.environments import edit_context
from core.errors import DomainError, InvalidInput
from core.models import Source
from probes.runners.base import ProbeFailure
from probes.runners.ssh import fetch_host_key, fingerprint
from probes.services import runs_request

HOST_KEY_TIMEOUT = 5


class HostUnreachable(DomainError):
    status = 502


@require_POST
@signed_in
def deployment_runs(request, pk: int):
    """Queue one item's probe (`key`) or every automated item's."""
    key = request.POST.get("key") or None
    count = runs_request(deployment_id=pk, keys=[key] if key else None, actor=request.user, source=Source.WEB)
    if request.htmx:
        deployment = deployment_for(request.user, pk)
        return HttpResponse(run_answer(request, deployment, [key] if key else None))
    messages.success(request, f"{count} probe run{'s' if count != 1 else ''} queued." if count else "No probe to run.")
    target = next_url(request, default=reverse("deployment", args=[pk]))
    return redirect(target + (f"#item-{key}" if key else ""))


@require_POST
@signed_in
def environment_host_key(request, pk: int):
    """`action=fetch` shows the key an SSH host (`ssh_host`) presents; `action=trust` pins the key shown."""
    environment = environment_for(request.user, pk, action="manage")
    ssh_host = environment.ssh_hosts.filter(pk=_int(request.POST.get("ssh_host"))).first()
    if ssh_host is None:
        hosts = list(environment.ssh_hosts.all()[:2])
        if len(hosts) != 1:
            raise InvalidInput("Add the SSH host first, then fetch its key; with several hosts, say which one.")
        ssh_host = hosts[0]
    if request.POST.get("action") == "trust":
        host_key = request.POST.get("host_key", "")
        host_key_trust(environment=environment, ssh_host=ssh_host, host_key=host_key, actor=request.user, source=Source.WEB)
        messages.success(request, f"Trusted the SSH host key {fingerprint(host_key)} for {ssh_host.label}.")
        return redirect("environment-edit", pk=pk)
    ssh_host_check(ssh_host)
    try:
        presented = fetch_host_key(ssh_host.host, ssh_host.port, timeout=HOST_KEY_TIMEOUT)
    except ProbeFailure:
        # One sentence whatever went wrong (refused, timed out, not SSH): the page is no port scanner.
        raise HostUnreachable(
            f"No SSH host key could be read from {ssh_host.host}:{ssh_host.port}; check the host "
            "and port, and that an SSH server listens there."
        ) from None
    offered = {"key": presented, "fingerprint": fingerprint(presented), "type": presented.split()[0], "ssh_host": ssh_host}
    offered["same"] = bool(ssh_host.host_key) and ssh_host.host_key.split()[:2] == presented.split()[:2]
    return render(request, "checklists/environment_form.html", edit_context(environment, offered=offered))


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
