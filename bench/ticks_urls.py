"""ctrlready's URLs, plus `bench/bare-tick/<deployment>/<key>`: bare Django doing a tick's writes.

The bare view does what a tick must at least do, and nothing else: find the token's user, lock the
deployment's row, update the item's state, insert the event, in one transaction. No roles, no rules,
no answer beyond the new state. It lives here, never in the product.
"""

import hashlib
import json

from django.db import transaction
from django.http import JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from checklists.models import Deployment, ItemState
from core.models import ApiToken, Event


@csrf_exempt
def bare_tick(request, deployment_id: int, key: str):
    raw = request.headers.get("Authorization", "").partition(" ")[2].strip()
    token = ApiToken.objects.select_related("user").filter(key_hash=hashlib.sha256(raw.encode()).hexdigest()).first()
    if token is None:
        return JsonResponse({"error": "bad token"}, status=401)
    state = json.loads(request.body)["state"]
    user = token.user
    now = timezone.now()
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().get(pk=deployment_id)
        ItemState.objects.filter(deployment=deployment, item__key=key).update(
            state=state, updated_by=user, updated_by_name=user.username, updated_at=now
        )
        Event.objects.create(
            kind=Event.Kind.STATE, source="api", actor=user, actor_name=user.username, deployment_ref=deployment.pk,
            environment_ref=deployment.environment_id, item_key=key, after=state,
        )
    return JsonResponse({"key": key, "state": state})


urlpatterns = [
    path("bench/bare-tick/<int:deployment_id>/<path:key>", bare_tick),
    path("", include("ctrlready.urls")),
]
