"""JSON API for probe runs: queue them, and take in the results CI pushes.  Handlers translate: validate, call a
service, serialise."""

from datetime import datetime

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


class ResultIn(Schema):
    key: str = Field(..., description="The key of an `external` item.")
    status: str = Field(..., description="`passed` or `failed`: what the CI job concluded.")
    summary: str = ""
    details_url: str = Field("", description="A link to the CI run, kept with the result.")
    data: dict = Field({}, description="A JSON document the item's conditions read as `[DATA]`.")
    at: datetime | None = Field(None, description="When the CI job produced the result (default: now); `[AGE_MINUTES]` counts from it.")


class ResultConditionOut(Schema):
    expr: str
    ok: bool
    observed: object = None


class ResultOut(Schema):
    run: int
    key: str
    status: str
    message: str
    conditions: list[ResultConditionOut]


@router.post(
    "deployments/{int:deployment_id}/results",
    response={201: ResultOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 413: ErrorOut},
)
def result_push(request, deployment_id: int, payload: ResultIn):
    """Record what CI found for an `external` item: a probe run, judged by the item's conditions on `data`."""
    run = services.external_result_record(
        deployment_id=deployment_id, key=payload.key, status=payload.status, summary=payload.summary,
        details_url=payload.details_url, data=payload.data, at=payload.at, actor=request.auth, source=Source.API,
    )
    return Status(201, {
        "run": run.pk, "key": payload.key, "status": run.status, "message": run.message, "conditions": run.conditions,
    })
