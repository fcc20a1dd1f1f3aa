"""JSON API for probe runs: queue them.  Handlers translate: validate, call a service, serialise."""

from ninja import Field, Router, Schema, Status

from core.models import Source
from probes import services

router = Router()


class ErrorOut(Schema):
    error: str


class RunsIn(Schema):
    items: list[str] | None = Field(None, description="Item keys; all automated items when left out.")


class RunsOut(Schema):
    queued: int


@router.post(
    "deployments/{int:deployment_id}/runs",
    response={202: RunsOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 503: ErrorOut},
)
def runs_request(request, deployment_id: int, payload: RunsIn | None = None):
    """Queue probe runs for a deployment's automated items; 503 (and nothing recorded) if the queue is down."""
    queued = services.runs_request(
        deployment_id=deployment_id,
        keys=payload.items if payload else None,
        actor=request.auth,
        source=Source.API,
    )
    return Status(202, {"queued": queued})
