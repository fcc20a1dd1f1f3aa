"""What changed in a deployment since a page last looked: the change log every open page polls.

Each deployment has a version number and, for its recent versions, the item keys each one changed. A
change to a deployment — anything that writes one of its events, a probe run queued, started or
finished — bumps the version once its transaction commits (`live_touch`), naming the items it changed,
or `everything` when the whole page changes with it (signed off, reopened). An open page keeps the
version it shows and asks every second "anything since N?" (`live_changes`): one Redis round trip,
answered "nothing" (the page gets a 204) or the keys to render again — never a read of the items.

The log lives in Redis (`REDIS_URL`), which every web process and worker shares; without Redis (the
single-person `make run` on SQLite) in this process's memory, so a page there sees what this process
changed. Redis being down never fails a change: the touch is dropped (logged) and the pages miss it
until the next change of the same rows.
"""

import logging
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

#: How many item changes a deployment's log keeps; a page further behind than that renders everything.
KEPT = 2000
#: A deployment's log is dropped after a day without changes (a page that old renders everything).
TTL_SECONDS = 86_400
EVERYTHING = "*"


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed after version `since`: `version` is the current one (give it back next time)."""

    version: int
    keys: frozenset[str]
    everything: bool  # the whole page changed (or the log no longer reaches back that far)

    @property
    def none(self) -> bool:
        return not self.everything and not self.keys


_pending = threading.local()


def live_touch(deployment_id: int, keys=(), *, everything: bool = False) -> None:
    """Record, once the current transaction commits, that `keys` of the deployment changed (or everything).

    Touches of one transaction are gathered and written in one round trip when it commits; a rolled-back
    transaction writes nothing (what it gathered is written with the next commit: a row rendered once more).
    """
    pending = getattr(_pending, "changes", None)
    if pending is None:
        pending = _pending.changes = {}
    changed = pending.setdefault(deployment_id, set())
    changed.update(key for key in keys if key)
    if everything:
        changed.add(EVERYTHING)
    transaction.on_commit(_flush)  # the first to run writes what the transaction gathered; the rest find nothing


def _flush() -> None:
    pending, _pending.changes = getattr(_pending, "changes", None) or {}, {}
    for deployment_id, keys in pending.items():
        try:
            _store().touch(deployment_id, keys)
        except Exception:  # noqa: BLE001 - a change is never refused because its pages cannot hear of it
            log.warning("could not record a live change", extra={"deployment": deployment_id}, exc_info=True)


def live_version(deployment_id: int) -> int:
    """The deployment's version now (0 if it never changed, or the log is unreachable)."""
    try:
        return _store().version(deployment_id)
    except Exception:  # noqa: BLE001
        log.warning("could not read the live version", exc_info=True)
        return 0


def live_changes(deployment_id: int, since: int) -> Changes:
    """What changed after `since`. Unreachable log: nothing (the page asks again a second later)."""
    try:
        return _store().changes(deployment_id, since)
    except Exception:  # noqa: BLE001
        log.warning("could not read live changes", exc_info=True)
        return Changes(since, frozenset(), False)


#: How long a rendered answer to "what changed after N" is kept for other pages asking the same.
ANSWER_SECONDS = 30


def live_answer(deployment_id: int, variant: str, render) -> str:
    """The answer `render()` makes for `variant` (what changed after a version, for one kind of page), rendered
    once and shared: every page that asks the same question gets the same bytes, so 20 open pages of one
    deployment cost one render per change, not twenty. An unreachable log: rendered for this page alone."""
    key = f"{deployment_id}:answer:{variant}"
    try:
        body = _store().answer_get(key)
    except Exception:  # noqa: BLE001
        return render()
    if body is None:
        body = render()
        try:
            _store().answer_set(key, body, ANSWER_SECONDS)
        except Exception:  # noqa: BLE001
            log.warning("could not keep a live answer", exc_info=True)
    return body


def _changes(since: int, version: int, members: list[tuple[str, int]], oldest_kept: int | None) -> Changes:
    """Changes from the log's entries after `since` ((key, version) pairs); `oldest_kept` is the lowest version
    still in the log once it was trimmed (None: nothing was ever trimmed, the log reaches back to the start)."""
    if version == since:
        return Changes(version, frozenset(), False)
    # Ahead of the log (it was lost, or expired) or behind what it keeps: render everything.
    lost = version < since or (oldest_kept is not None and oldest_kept > since + 1)
    keys = frozenset(key for key, _ in members)
    return Changes(version, keys - {EVERYTHING}, lost or EVERYTHING in keys)


class _RedisStore:
    # INCR the version, add each key at it (a key keeps only its latest version), trim, expire: one round trip.
    TOUCH = """
    local v = redis.call('INCR', KEYS[1])
    for i = 1, #ARGV do redis.call('ZADD', KEYS[2], v, ARGV[i]) end
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(%d) + 1))
    redis.call('EXPIRE', KEYS[1], %d)
    redis.call('EXPIRE', KEYS[2], %d)
    return v
    """ % (KEPT, TTL_SECONDS, TTL_SECONDS)

    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self.script = self.client.register_script(self.TOUCH)
        self.prefix = f"ctrlready:live:{settings.DATABASES['default']['NAME']}:"

    def _keys(self, deployment_id: int) -> tuple[str, str]:
        base = f"{self.prefix}{deployment_id}"
        return base, base + ":keys"

    def touch(self, deployment_id: int, keys: set[str]) -> int:
        return int(self.script(keys=self._keys(deployment_id), args=sorted(keys)))

    def version(self, deployment_id: int) -> int:
        return int(self.client.get(self._keys(deployment_id)[0]) or 0)

    def answer_get(self, key: str) -> str | None:
        body = self.client.get(self.prefix + key)
        return body.decode() if body is not None else None

    def answer_set(self, key: str, body: str, seconds: int) -> None:
        self.client.set(self.prefix + key, body.encode(), ex=seconds)

    def changes(self, deployment_id: int, since: int) -> Changes:
        version_key, keys_key = self._keys(deployment_id)
        version = int(self.client.get(version_key) or 0)
        if version == since:
            return Changes(version, frozenset(), False)
        pipe = self.client.pipeline(transaction=False)
        pipe.zrangebyscore(keys_key, f"({since}", "+inf", withscores=True)
        pipe.zrange(keys_key, 0, 0, withscores=True)
        pipe.zcard(keys_key)
        members, oldest, size = pipe.execute()
        decoded = [(member.decode(), int(score)) for member, score in members]
        # A key keeps only its latest version: once the log is full, its oldest entry is how far back it reaches.
        return _changes(since, version, decoded, int(oldest[0][1]) if oldest and size >= KEPT else None)


class _MemoryStore:
    """The same log in this process's memory, for a single process without Redis."""

    def __init__(self):
        self.lock = threading.Lock()
        self.versions: dict[int, int] = {}
        self.logs: dict[int, dict[str, int]] = {}
        self.answers: dict[str, tuple[str, float]] = {}

    def touch(self, deployment_id: int, keys: set[str]) -> int:
        with self.lock:
            version = self.versions.get(deployment_id, 0) + 1
            self.versions[deployment_id] = version
            log_ = self.logs.setdefault(deployment_id, {})
            for key in keys:
                log_.pop(key, None)
                log_[key] = version
            while len(log_) > KEPT:
                log_.pop(next(iter(log_)))
            return version

    def version(self, deployment_id: int) -> int:
        return self.versions.get(deployment_id, 0)

    def answer_get(self, key: str) -> str | None:
        import time

        with self.lock:
            body, until = self.answers.get(key, (None, 0.0))
        return body if time.monotonic() < until else None

    def answer_set(self, key: str, body: str, seconds: int) -> None:
        import time

        with self.lock:
            now = time.monotonic()
            self.answers = {k: v for k, v in self.answers.items() if v[1] > now}
            self.answers[key] = (body, now + seconds)

    def changes(self, deployment_id: int, since: int) -> Changes:
        with self.lock:
            version = self.versions.get(deployment_id, 0)
            log_ = dict(self.logs.get(deployment_id, {}))
        members = [(key, at) for key, at in log_.items() if at > since]
        oldest = min(log_.values()) if len(log_) >= KEPT else None
        return _changes(since, version, members, oldest)


_stores: dict[str, object] = {}


def _store():
    url = settings.REDIS_URL
    store = _stores.get(url)
    if store is None:
        store = _stores[url] = _RedisStore(url) if url else _MemoryStore()
    return store
