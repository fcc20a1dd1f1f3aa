"""The deployment page: rows, probe results, filters, htmx partials, polling, sign-off panel, lock."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from checklists.models import Deployment, ItemState
from checklists.selectors import deployment_snapshot
from core.models import Event

HX = {"HTTP_HX_REQUEST": "true"}


def page(client, deployment, query="", **headers):
    return client.get(reverse("deployment", args=[deployment.pk]) + query, **headers)


def item_url(deployment, key):
    return reverse("item", args=[deployment.pk, key])


def row_html(html: str, key: str) -> str:
    match = re.search(rf'<li id="item-{re.escape(key)}".*?</li>', html, re.S)
    assert match, f"no row for {key}"
    return match.group(0)


def keys_in(html: str) -> set[str]:
    return set(re.findall(r'data-item-key="([^"]+)"', html))


def state_of(deployment, key):
    return ItemState.objects.get(deployment=deployment, item__key=key)


# --- What the page shows -----------------------------------------------------------


def test_page_shows_every_item_with_its_key(client, people, deployment):
    client.force_login(people["viewer"])
    html = page(client, deployment).content.decode()
    assert keys_in(html) == {"rollback", "alerts", "alerts-down", "alerts-errors", "health", "nice"}
    assert 'id="progress"' in html and 'id="signoff"' in html
    states = dict(re.findall(r'data-item-key="([^"]+)" data-item-state="([^"]+)"', html))
    assert states == dict.fromkeys(keys_in(html), "pending")


def test_engineer_sees_mark_passed_on_manual_leaf_items_only(client, people, deployment):
    client.force_login(people["engineer"])
    html = page(client, deployment).content.decode()
    for key in ("rollback", "alerts-down", "alerts-errors", "nice"):
        assert ">Mark passed</button>" in row_html(html, key)
    assert "Mark passed" not in row_html(html, "alerts")  # a parent follows its children
    assert "Mark passed" not in row_html(html, "health")  # the probe decides
    assert ">Run</button>" in row_html(html, "health")


def test_viewer_sees_no_action_buttons(client, people, deployment):
    client.force_login(people["viewer"])
    html = page(client, deployment).content.decode()
    assert "Mark passed" not in html and ">Run</button>" not in html and "Sign off</button>" not in html


def test_row_shows_who_set_it_when_note_and_evidence(client, people, deployment):
    from checklists.items import item_state_set

    item_state_set(
        deployment_id=deployment.pk, key="rollback", state="passed", note="Plan in the wiki",
        evidence_url="https://wiki.example.com/rollback", actor=people["engineer"], source="web",
    )
    client.force_login(people["viewer"])
    row = row_html(page(client, deployment).content.decode(), "rollback")
    assert "Passed by engineer" in row
    assert "Plan in the wiki" in row
    assert 'href="https://wiki.example.com/rollback"' in row


def test_unsafe_evidence_link_is_not_a_link(client, people, deployment):
    ItemState.objects.filter(deployment=deployment, item__key="rollback").update(evidence_url="javascript:alert(1)")
    client.force_login(people["viewer"])
    assert "javascript:" not in page(client, deployment).content.decode()


def test_automated_row_shows_latest_probe_result(client, people, deployment, probe_result):
    probe_result(deployment, "health", "failed", duration_ms=87, observed=503)
    client.force_login(people["viewer"])
    row = row_html(page(client, deployment).content.decode(), "health")
    assert "Probe <strong>failed</strong>" in row
    assert "in 87 ms" in row
    assert "<code>[STATUS] == 200</code>" in row and "<code>503</code>" in row and "did not hold" in row
    assert "The health check answered 503." in row
    assert state_of(deployment, "health").state == "failed"


def test_old_passing_result_is_shown_stale_and_blocks(client, people, deployment, probe_result):
    probe_result(deployment, "health", "passed")
    ItemState.objects.filter(deployment=deployment, item__key="health").update(
        last_passed_at=timezone.now() - timedelta(hours=3)
    )
    client.force_login(people["viewer"])
    html = page(client, deployment).content.decode()
    row = row_html(html, "health")
    assert "is-stale" in row and "stale" in row and "blocks sign-off" in row
    assert keys_in(page(client, deployment, "?show=stale").content.decode()) == {"health"}


def test_row_escapes_what_people_and_probes_wrote(client, people, deployment, probe_result):
    ItemState.objects.filter(deployment=deployment, item__key="rollback").update(
        note='<b>Plan</b> & "more"', evidence_url='https://wiki.example.com/?a=1&b="2"',
        updated_by_name="<i>eve</i>", updated_at=timezone.now(),
    )
    probe_result(deployment, "health", "failed", observed="<script>alert(1)</script>", message="<em>503</em>")
    client.force_login(people["viewer"])
    html = page(client, deployment).content.decode()
    row = row_html(html, "rollback")
    note = re.search(r'<p class="note">([^<]*)</p>', row).group(1)
    assert unescape(note) == '<b>Plan</b> & "more"' and '"' not in note and "<b>" not in row
    href = re.search(r'<p class="evidence"><a href="([^"]*)"', row).group(1)
    assert unescape(href) == 'https://wiki.example.com/?a=1&b="2"'
    assert "&lt;i&gt;eve&lt;/i&gt;" in row and "<i>" not in row
    health = row_html(html, "health")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in health and "<script>" not in health
    assert "&lt;em&gt;503&lt;/em&gt;" in health and "<em>" not in health


def test_item_text_keeps_inline_markdown_and_escapes_html(client, people, environment):
    from checklists.deployments import deployment_create
    from checklists.imports import checklist_import
    from core.actors import SYSTEM

    checklist_import(
        markdown="# Md\n\n## S\n\n- [ ] `GET /health` is **fast** <script>alert(1)</script> {#md}\n", name="Md",
        actor=SYSTEM, source="cli",
    )
    deployment = deployment_create(
        environment=environment, checklist_slug="md", release="r1", actor=people["engineer"], source="api"
    )
    client.force_login(people["viewer"])
    row = row_html(page(client, deployment).content.decode(), "md")
    assert "<code>GET /health</code>" in row and "<strong>fast</strong>" in row
    assert "<script>" not in row


# --- Filters (query string; no JavaScript needed) ------------------------------------


@pytest.mark.parametrize(
    "show, expected",
    [
        ("human", {"rollback", "alerts-down", "alerts-errors", "nice"}),
        ("failing", {"alerts-down", "alerts"}),
        ("blocking", {"rollback", "alerts", "alerts-down", "alerts-errors", "health"}),
        ("optional", {"nice"}),
        ("", {"rollback", "alerts", "alerts-down", "alerts-errors", "health", "nice"}),
    ],
)
def test_filters(client, people, deployment, show, expected):
    from checklists.items import item_state_set

    item_state_set(deployment_id=deployment.pk, key="alerts-down", state="failed", actor=people["engineer"], source="web")
    client.force_login(people["viewer"])
    html = page(client, deployment, f"?show={show}").content.decode()
    assert keys_in(html.split('id="items-title"')[1]) == expected


def test_unknown_filter_shows_everything(client, people, deployment):
    client.force_login(people["viewer"])
    assert len(keys_in(page(client, deployment, "?show=bogus").content.decode())) == 6


# --- Ticking: htmx swaps the row, no JavaScript redirects -----------------------------


def test_htmx_tick_answers_its_row_in_place_and_the_panels_out_of_band(client, people, deployment):
    client.force_login(people["engineer"])
    response = client.post(item_url(deployment, "rollback"), {"state": "passed"}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "<body" not in html
    assert html.lstrip().startswith('<li id="item-rollback" data-item-key="rollback" data-item-state="passed"')
    assert "badge-passed" in html and "Mark passed" not in html and "Back to pending" in html
    assert keys_in(html) == {"rollback"}  # not the other rows
    assert '<div id="progress-summary" hx-swap-oob="true">' in html and "<strong>1</strong> of 6 done" in html
    sections = re.findall(r'<li id="progress-section-\d+"[^>]* hx-swap-oob="true">\s*<a [^>]*>([^<]*)</a>', html)
    assert sections == ["Ops"]  # its section's progress, not the others'
    assert '<section id="signoff" class="panel" aria-labelledby="signoff-title" hx-swap-oob="true">' in html
    assert '<section id="progress"' not in html
    assert state_of(deployment, "rollback").state == "passed"


def test_htmx_tick_of_last_child_also_updates_parent_out_of_band(client, people, deployment):
    from checklists.items import item_state_set

    item_state_set(deployment_id=deployment.pk, key="alerts-down", state="passed", actor=people["engineer"], source="web")
    client.force_login(people["engineer"])
    html = client.post(item_url(deployment, "alerts-errors"), {"state": "passed"}, **HX).content.decode()
    parent = row_html(html, "alerts")
    assert 'hx-swap-oob="true"' in parent and "badge-passed" in parent and 'data-item-state="passed"' in parent
    assert 'hx-swap-oob' not in row_html(html, "alerts-errors")
    assert keys_in(html) == {"alerts-errors", "alerts"}  # its parent, not its sibling


def test_no_js_tick_redirects_back_to_the_filtered_page_at_the_row(client, people, deployment):
    client.force_login(people["engineer"])
    back = reverse("deployment", args=[deployment.pk]) + "?show=human"
    response = client.post(item_url(deployment, "rollback"), {"state": "failed", "next": back})
    assert response.status_code == 302
    assert response["Location"] == back + "#item-rollback"


def test_next_pointing_off_site_is_ignored(client, people, deployment):
    client.force_login(people["engineer"])
    response = client.post(item_url(deployment, "rollback"), {"state": "na", "next": "https://evil.example/"})
    assert response["Location"] == reverse("deployment", args=[deployment.pk]) + "#item-rollback"


@pytest.mark.parametrize("state", ["failed", "na", "pending"])
def test_fail_na_and_back_to_pending(client, people, deployment, state):
    client.force_login(people["engineer"])
    client.post(item_url(deployment, "rollback"), {"state": "passed"})
    client.post(item_url(deployment, "rollback"), {"state": state})
    assert state_of(deployment, "rollback").state == state


def test_note_and_evidence_are_saved_and_recorded(client, people, deployment):
    client.force_login(people["engineer"])
    response = client.post(
        item_url(deployment, "rollback"), {"note": "Runbook v3", "evidence_url": "https://runbooks.example/v3"}, **HX
    )
    assert response.status_code == 200 and "Runbook v3" in response.content.decode()
    saved = state_of(deployment, "rollback")
    assert (saved.state, saved.note, saved.evidence_url) == ("pending", "Runbook v3", "https://runbooks.example/v3")
    assert Event.objects.filter(deployment_ref=deployment.pk, kind="note", item_key="rollback", source="web").exists()


def test_bad_evidence_link_is_refused_with_a_sentence(client, people, deployment):
    client.force_login(people["engineer"])
    response = client.post(item_url(deployment, "rollback"), {"note": "x", "evidence_url": "not a url"})
    assert response.status_code == 400
    assert "Evidence link" in response.content.decode()


def test_engineer_cannot_pass_an_automated_item(client, people, deployment):
    client.force_login(people["engineer"])
    response = client.post(item_url(deployment, "health"), {"state": "passed"})
    assert response.status_code == 400
    assert "checked by its probe" in response.content.decode()


def test_htmx_error_is_a_small_fragment_with_the_status(client, people, deployment):
    client.force_login(people["viewer"])
    response = client.post(item_url(deployment, "rollback"), {"state": "passed"}, **HX)
    assert response.status_code == 403
    html = response.content.decode()
    assert "<html" not in html and 'role="alert"' in html and "needs the engineer role" in html


def test_unknown_item_is_404(client, people, deployment):
    client.force_login(people["engineer"])
    assert client.post(item_url(deployment, "nope"), {"state": "passed"}).status_code == 404
    assert client.get(item_url(deployment, "nope")).status_code == 404


def test_item_page_without_js_has_note_and_waive_forms_for_a_lead(client, people, deployment):
    client.force_login(people["lead"])
    html = client.get(item_url(deployment, "health")).content.decode()
    assert "<html" in html
    assert 'name="note"' in html and 'value="waived"' in html and "Mark n/a" in html


def test_item_edit_over_htmx_swaps_the_row_with_its_forms(client, people, deployment):
    client.force_login(people["engineer"])
    html = client.get(item_url(deployment, "rollback"), **HX).content.decode()
    assert html.lstrip().startswith('<li id="item-rollback"') and 'name="note"' in html
    assert 'value="waived"' not in html  # an engineer cannot waive
    plain = client.get(item_url(deployment, "rollback") + "?view=row", **HX).content.decode()
    assert 'name="note"' not in plain


# --- Waive, with a reason -------------------------------------------------------


def test_lead_waives_with_a_reason(client, people, deployment):
    client.force_login(people["lead"])
    response = client.post(item_url(deployment, "health"), {"state": "waived", "note": "Checked by the LB"}, **HX)
    assert response.status_code == 200 and "badge-waived" in response.content.decode()
    assert state_of(deployment, "health").state == "waived"


def test_waive_without_reason_is_refused(client, people, deployment):
    client.force_login(people["lead"])
    response = client.post(item_url(deployment, "health"), {"state": "waived", "note": " "})
    assert response.status_code == 400
    assert "reason is required" in response.content.decode()
    assert state_of(deployment, "health").state == "pending"


# --- Partials refreshed on item-changed, and polling while runs are in flight ----------


@pytest.mark.parametrize("part, element", [("progress", 'id="progress"'), ("signoff", 'id="signoff"')])
def test_htmx_part_renders_only_that_region(client, people, deployment, part, element):
    client.force_login(people["viewer"])
    html = page(client, deployment, f"?part={part}", **HX).content.decode()
    assert html.lstrip().startswith(f"<section {element}")
    assert "<html" not in html and "data-item-key" not in html


def test_part_without_htmx_is_the_whole_page(client, people, deployment):
    client.force_login(people["viewer"])
    assert "<html" in page(client, deployment, "?part=progress").content.decode()


def test_progress_region_counts(client, people, deployment):
    from checklists.items import item_state_set

    item_state_set(deployment_id=deployment.pk, key="rollback", state="passed", actor=people["engineer"], source="web")
    item_state_set(deployment_id=deployment.pk, key="alerts-down", state="failed", actor=people["engineer"], source="web")
    client.force_login(people["viewer"])
    html = page(client, deployment, "?part=progress", **HX).content.decode()
    assert "<strong>1</strong> of 6 done" in html
    assert "<strong>2</strong> failed" in html  # the item and its parent
    assert 'aria-valuenow="1"' in html


# --- Run buttons ----------------------------------------------------------------------


def test_run_one_item_over_htmx_shows_it_queued_and_keeps_asking_from_the_pages_version(client, people, deployment, broker_up):
    client.force_login(people["engineer"])
    response = client.post(reverse("deployment-runs", args=[deployment.pk]), {"key": "health", "since": "7"}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="live"') and 'hx-trigger="every 1s"' in html
    assert "since=7&amp;" in html and "1 probe run in progress" in html
    assert "Probe <strong>queued</strong>" in row_html(html, "health")
    assert deployment.runs.get().status == "queued"
    assert Event.objects.filter(deployment_ref=deployment.pk, kind="run_requested", source="web").exists()


def test_run_all_without_js_redirects_with_a_message(client, people, deployment, broker_up):
    client.force_login(people["engineer"])
    response = client.post(reverse("deployment-runs", args=[deployment.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("deployment", args=[deployment.pk])
    assert "1 probe run queued." in response.content.decode()


def test_run_when_queue_is_down_is_503_with_a_message(client, people, deployment, broker_down):
    client.force_login(people["engineer"])
    url = reverse("deployment-runs", args=[deployment.pk])
    for headers in ({}, HX):
        response = client.post(url, {"key": "health"}, **headers)
        assert response.status_code == 503
        assert "queue cannot be reached" in response.content.decode()
    assert deployment.runs.count() == 0


def test_running_a_manual_item_is_refused(client, people, deployment, broker_up):
    client.force_login(people["engineer"])
    response = client.post(reverse("deployment-runs", args=[deployment.pk]), {"key": "rollback"})
    assert response.status_code == 400


# --- Sign-off panel, sign-off, lock, reopen ------------------------------------------


def test_panel_lists_required_roles_and_links_blocking_items(client, people, deployment):
    client.force_login(people["lead"])
    html = page(client, deployment).content.decode()
    panel = html.split('<section id="signoff"')[1].split("</section>")[0]
    assert "lead" in panel and "not signed yet" in panel
    for key in ("rollback", "alerts-down", "alerts-errors", "health"):
        assert f'href="#item-{key}"' in panel
    assert 'href="#item-nice"' not in panel  # optional items never block
    assert 'name="digest"' not in panel  # no sign-off form while something blocks


def test_sign_off_form_carries_the_digest_the_signer_sees(client, people, ready_deployment):
    client.force_login(people["lead"])
    html = page(client, ready_deployment).content.decode()
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', html).group(1)
    assert digest == deployment_snapshot(ready_deployment).digest
    assert "Nothing blocks" in html


def test_sign_off_locks_the_page(client, people, ready_deployment):
    client.force_login(people["lead"])
    digest = deployment_snapshot(ready_deployment).digest
    response = client.post(
        reverse("deployment-signoff", args=[ready_deployment.pk]), {"role": "lead", "digest": digest, "comment": "Go"},
        follow=True,
    )
    html = response.content.decode()
    assert "Signed off and locked" in html
    assert "Mark passed" not in html and ">Run</button>" not in html and "Note / waive" not in html
    assert "signed by <strong>lead</strong>" in html and "Go" in html
    assert 'name="reason"' in html  # a lead may reopen
    assert Deployment.objects.get(pk=ready_deployment.pk).status == "signed_off"


def test_locked_item_cannot_be_ticked(client, people, ready_deployment):
    from checklists.signoffs import signoff_record

    signoff_record(
        deployment_id=ready_deployment.pk, role="lead", digest=deployment_snapshot(ready_deployment).digest,
        actor=people["lead"], source="api",
    )
    client.force_login(people["engineer"])
    response = client.post(item_url(ready_deployment, "rollback"), {"state": "failed"})
    assert response.status_code == 409 and "locked" in response.content.decode()


def test_sign_off_with_an_old_digest_is_refused(client, people, ready_deployment):
    client.force_login(people["lead"])
    old = deployment_snapshot(ready_deployment).digest
    client.post(item_url(ready_deployment, "rollback"), {"note": "changed after review"})
    response = client.post(reverse("deployment-signoff", args=[ready_deployment.pk]), {"role": "lead", "digest": old})
    assert response.status_code == 409
    assert "changed since you looked" in response.content.decode()
    assert Deployment.objects.get(pk=ready_deployment.pk).status == "open"


def test_sign_off_while_blocked_is_refused_and_names_the_blockers(client, people, deployment):
    client.force_login(people["lead"])
    digest = deployment_snapshot(deployment).digest
    response = client.post(reverse("deployment-signoff", args=[deployment.pk]), {"role": "lead", "digest": digest})
    assert response.status_code == 409
    assert "block sign-off" in response.content.decode() and "<code>rollback</code>" in response.content.decode()


def test_reopen_needs_a_reason_and_unlocks(client, people, ready_deployment):
    from checklists.signoffs import signoff_record

    signoff_record(
        deployment_id=ready_deployment.pk, role="lead", digest=deployment_snapshot(ready_deployment).digest,
        actor=people["lead"], source="api",
    )
    client.force_login(people["lead"])
    url = reverse("deployment-reopen", args=[ready_deployment.pk])
    assert client.post(url, {"reason": ""}).status_code == 400
    response = client.post(url, {"reason": "Hotfix needed"}, follow=True)
    html = response.content.decode()
    assert "Reopened" in html and "Mark passed" in html and "Signed off and locked" not in html
    assert Event.objects.filter(deployment_ref=ready_deployment.pk, kind="reopen", note="Hotfix needed").exists()


# --- Queries do not grow with items -----------------------------------------------------


def _count_queries(client, deployment) -> int:
    reset_queries()
    with CaptureQueriesContext(connection) as context:
        assert client.get(reverse("deployment", args=[deployment.pk])).status_code == 200
    return len(context.captured_queries)


def test_query_count_does_not_grow_with_items(client, people, seed_deployment, big_deployment, probe_result):
    for deployment in (seed_deployment, big_deployment):
        for key in list(deployment.version.items.filter(probe__isnull=False).exclude(probe__type="external").values_list("key", flat=True)[:3]):
            probe_result(deployment, key, "passed")
        probe_result(deployment, key, None)  # one run still in flight
    client.force_login(people["lead"])
    client.get(reverse("dashboard"))  # the session and the user are loaded the same way for both pages
    assert seed_deployment.states.count() == 229 and big_deployment.states.count() == 2290
    small, big = _count_queries(client, seed_deployment), _count_queries(client, big_deployment)
    assert 0 < small == big <= 20, (small, big)


def _first_manual_leaf(deployment) -> str:
    items = deployment.version.items.filter(probe__isnull=True, has_children=False).order_by("position")
    return items.values_list("key", flat=True).first()


def _answer_queries(client, url, data) -> tuple[int, str]:
    reset_queries()
    with CaptureQueriesContext(connection) as context:
        response = client.post(url, data, **HX)
    assert response.status_code == 200, response.content[:300]
    return len(context.captured_queries), response.content.decode()


def test_tick_answer_costs_the_same_queries_for_229_and_2290_items(client, people, seed_deployment, big_deployment):
    client.force_login(people["lead"])
    client.get(reverse("dashboard"))  # the session and the user are loaded the same way for both answers
    counts = []
    for deployment in (seed_deployment, big_deployment):
        key = _first_manual_leaf(deployment)
        count, html = _answer_queries(client, item_url(deployment, key), {"state": "passed"})
        assert keys_in(html) == {key} and 'id="progress-summary"' in html and 'id="signoff"' in html
        counts.append(count)
    assert counts[0] == counts[1], counts


def test_run_answer_costs_the_same_queries_for_229_and_2290_items(
    client, people, seed_deployment, big_deployment, broker_up
):
    client.force_login(people["lead"])
    client.get(reverse("dashboard"))
    counts = []
    for deployment in (seed_deployment, big_deployment):
        runnable = deployment.version.items.filter(probe__isnull=False).exclude(probe__type="external")  # CI pushes those
        key = runnable.order_by("position").values_list("key", flat=True)[0]
        count, html = _answer_queries(client, reverse("deployment-runs", args=[deployment.pk]), {"key": key})
        assert keys_in(html) == {key} and 'hx-trigger="every 1s"' in html
        counts.append(count)
    assert counts[0] == counts[1], counts
