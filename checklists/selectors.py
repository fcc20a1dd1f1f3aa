"""Reads: what a deployment looks like right now, in a fixed number of queries."""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from checklists.models import Deployment, ItemState, SignOff

State = ItemState.State
DONE = frozenset({State.PASSED, State.WAIVED, State.NA})


@dataclass
class ItemRow:
    state: ItemState
    stale: bool
    blocking: bool
    depth: int

    @property
    def item(self):
        return self.state.item

    @property
    def run(self):
        return self.state.latest_run


@dataclass
class Snapshot:
    deployment: Deployment
    rows: list[ItemRow]
    signoffs: list[SignOff]
    digest: str
    progress: dict
    blocking: list[ItemRow] = field(default_factory=list)

    @property
    def required_roles(self) -> list[str]:
        return self.deployment.version.required_roles or ["lead"]

    @property
    def missing_roles(self) -> list[str]:
        signed = {signoff.role for signoff in self.signoffs}
        return [role for role in self.required_roles if role not in signed]

    @property
    def stale_count(self) -> int:
        return sum(1 for row in self.rows if row.stale)

    @property
    def running(self) -> bool:
        return any(row.run is not None and not row.run.finished for row in self.rows)


def freshness_cutoff(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(minutes=settings.CTRLREADY_RESULT_TTL_MINUTES)


def item_rows(deployment: Deployment, *, now: datetime | None = None) -> list[ItemRow]:
    states = list(
        ItemState.objects.filter(deployment=deployment)
        .select_related("item", "latest_run")
        .order_by("item__position")
    )
    cutoff = freshness_cutoff(now)
    depth_of: dict[int, int] = {}
    rows = []
    for item_state in states:
        item = item_state.item
        depth = depth_of[item.parent_id] + 1 if item.parent_id in depth_of else 0
        depth_of[item.pk] = depth
        stale = (
            item.probe is not None
            and item_state.state == State.PASSED
            and (item_state.last_passed_at is None or item_state.last_passed_at < cutoff)
        )
        blocking = not item.optional and (item_state.state not in DONE or stale)
        rows.append(ItemRow(state=item_state, stale=stale, blocking=blocking, depth=depth))
    return rows


def digest_of(deployment: Deployment, rows: list[ItemRow]) -> str:
    """What a signer saw: every item's state, note and latest run, and the deployment's status."""
    hasher = hashlib.sha256(f"{deployment.pk}:{deployment.status}\n".encode())
    for row in rows:
        hasher.update(
            f"{row.item.key}\0{row.state.state}\0{row.state.note}\0{row.state.latest_run_id or ''}\0{row.stale}\n".encode()
        )
    return hasher.hexdigest()


def progress_of(rows: list[ItemRow]) -> dict:
    progress = {"total": len(rows), "passed": 0, "failed": 0, "pending": 0, "waived": 0, "na": 0, "blocking": 0}
    for row in rows:
        progress[row.state.state] += 1
        progress["blocking"] += row.blocking
    return progress


def deployment_snapshot(deployment: Deployment, *, now: datetime | None = None) -> Snapshot:
    rows = item_rows(deployment, now=now)
    signoffs = list(deployment.signoffs.filter(voided_at__isnull=True).order_by("at"))
    return Snapshot(
        deployment=deployment,
        rows=rows,
        signoffs=signoffs,
        digest=digest_of(deployment, rows),
        progress=progress_of(rows),
        blocking=[row for row in rows if row.blocking],
    )
