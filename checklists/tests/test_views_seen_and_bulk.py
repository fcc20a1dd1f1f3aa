"""The deployment page's forms carry the state their person saw; a change over another is refused inside the
row with a way to apply it anyway; rows picked on the page change together."""

from django.urls import reverse

from checklists.models import ItemState
from checklists.tests.test_views_deployment import HX, item_url, keys_in, page, row_html
from core.models import Event


def test_every_row_form_carries_the_state_seen_and_rows_have_a_box_to_pick(client, people, deployment):
    client.force_login(people["lead"])
    html = page(client, deployment).content.decode()
    row = row_html(html, "rollback")
    assert 'data-item-state="pending"' in row and '<input type="hidden" name="seen" value="pending">' in row
    assert 'class="pick" name="pick" value="pending:rollback" form="bulk"' in row
    assert 'class="pick"' not in row_html(html, "alerts")  # a parent follows its children
    assert '<form id="bulk"' in html and "Waive selected" in html


def test_viewer_has_no_boxes_and_no_bulk_bar(client, people, deployment):
    client.force_login(people["viewer"])
    html = page(client, deployment).content.decode()
    assert 'class="pick"' not in html and 'id="bulk"' not in html


def test_stale_change_is_refused_inside_the_row_with_what_changed_and_apply_anyway(client, people, deployment, probe_result):
    probe_result(deployment, "health", "failed")
    client.force_login(people["lead"])
    response = client.post(item_url(deployment, "health"), {"state": "na", "note": "Not ours", "seen": "pending"}, **HX)
    assert response.status_code == 200
    row = row_html(response.content.decode(), "health")
    assert 'data-item-state="failed"' in row and 'class="conflict" role="alert"' in row
    assert "set this item from pending to failed" in row
    assert '<input type="hidden" name="seen" value="failed">' in row
    assert '<input type="hidden" name="state" value="na">' in row and 'name="note" value="Not ours"' in row
    assert ItemState.objects.get(deployment=deployment, item__key="health").state == "failed"
    again = client.post(item_url(deployment, "health"), {"state": "na", "note": "Not ours", "seen": "failed"}, **HX)
    assert 'data-item-state="na"' in row_html(again.content.decode(), "health")


def test_stale_change_without_javascript_is_a_409_page_saying_what_changed(client, people, deployment, probe_result):
    probe_result(deployment, "health", "failed")
    client.force_login(people["lead"])
    response = client.post(item_url(deployment, "health"), {"state": "na", "note": "x", "seen": "pending"})
    assert response.status_code == 409 and "from pending to failed" in response.content.decode()


def test_bulk_waive_of_picked_rows_answers_rows_and_panels_and_writes_one_event_each(client, people, deployment):
    client.force_login(people["lead"])
    picks = ["pending:rollback", "pending:alerts-down", "pending:alerts-errors"]
    response = client.post(
        reverse("deployment-items", args=[deployment.pk]), {"pick": picks, "state": "waived", "note": "Pilot"}, **HX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith("<p>3 items set to waived.</p>")
    assert keys_in(html) == {"rollback", "alerts", "alerts-down", "alerts-errors"}
    assert 'id="summary"' in html and 'id="signoff"' in html and 'id="filters"' in html
    waives = Event.objects.filter(deployment_ref=deployment.pk, kind="waive")
    assert sorted(waives.values_list("item_key", flat=True)) == ["alerts-down", "alerts-errors", "rollback"]


def test_bulk_refusal_is_answered_in_the_bulk_bar_naming_the_items(client, people, deployment):
    client.force_login(people["engineer"])
    response = client.post(
        reverse("deployment-items", args=[deployment.pk]), {"pick": ["pending:rollback", "pending:health"], "state": "passed"}, **HX
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'class="refusal" role="alert"' in html
    assert "#item-health" in html and "checked by its probe" in html
    assert not Event.objects.filter(deployment_ref=deployment.pk, kind="state").exists()


def test_bulk_without_javascript_redirects_back_with_a_message(client, people, deployment):
    client.force_login(people["engineer"])
    response = client.post(
        reverse("deployment-items", args=[deployment.pk]),
        {"pick": ["pending:rollback"], "state": "passed", "next": reverse("deployment", args=[deployment.pk])},
    )
    assert response.status_code == 302
    assert "1 item set to passed." in client.get(response["Location"]).content.decode()


def test_sign_off_over_a_moved_digest_is_refused_in_the_panel_with_what_happened_since(client, people, ready_deployment):
    from django.utils import timezone

    from checklists.items import item_state_set
    from checklists.selectors import deployment_digest

    digest, looked_at = deployment_digest(ready_deployment), timezone.now().isoformat()
    item_state_set(deployment_id=ready_deployment.pk, key="nice", state="passed", actor=people["engineer"], source="api")
    client.force_login(people["lead"])
    response = client.post(
        reverse("deployment-signoff", args=[ready_deployment.pk]),
        {"role": "lead", "digest": digest, "looked_at": looked_at}, **HX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="signoff"') and 'class="refusal" role="alert"' in html
    assert "changed since you looked" in html and "Since you looked:" in html
    assert "engineer: state of" in html and "Nice to have" in html and "(Pending → Passed)" in html
    assert f'value="{deployment_digest(ready_deployment)}"' in html  # the form signs the state as it is now


def test_sign_off_while_blocked_is_refused_in_the_panel_naming_the_items(client, people, ready_deployment):
    from checklists.items import item_state_set
    from checklists.selectors import deployment_digest

    digest = deployment_digest(ready_deployment)
    item_state_set(deployment_id=ready_deployment.pk, key="rollback", state="failed", actor=people["engineer"], source="api")
    client.force_login(people["lead"])
    html = client.post(
        reverse("deployment-signoff", args=[ready_deployment.pk]), {"role": "lead", "digest": digest}, **HX
    ).content.decode()
    assert "Not signed." in html and "block sign-off" in html
    assert 'href="#item-rollback">Rollback plan ready</a>' in html


def test_sign_off_over_htmx_swaps_the_page_locked(client, people, ready_deployment):
    from checklists.selectors import deployment_digest

    client.force_login(people["lead"])
    response = client.post(
        reverse("deployment-signoff", args=[ready_deployment.pk]),
        {"role": "lead", "digest": deployment_digest(ready_deployment)}, **HX,
    )
    assert response["HX-Retarget"] == "#deployment-page" and "Signed off and locked" in response.content.decode()


def test_search_shows_the_items_whose_text_has_every_word(client, people, deployment):
    client.force_login(people["viewer"])
    html = page(client, deployment, "?q=error+HIGH").content.decode()
    assert keys_in(html) == {"alerts-errors"}
    assert "whose text has “error HIGH”" in html and 'name="q" value="error HIGH"' in html
    assert "part=changes" in html and "q=error+HIGH" in html  # the poll keeps the search
