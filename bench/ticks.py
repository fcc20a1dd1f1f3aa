"""P3: ticking through the API under gunicorn with production settings, on PostgreSQL.

(a) Open loop: 50 people, each ticking about every 2 s (Poisson arrivals, 25 ticks/s offered in all)
    for 20 s. Each tick's latency is measured from the moment it was scheduled, so time spent waiting
    for a connection or behind other ticks counts. Reports p50/p95/p99, errors, and `state` events per
    tick (exactly one; a tick that fails an item also appends `item_failed`, counted beside them).
(b) Capacity, closed loop: clients that send their next tick as soon as the last is answered, against
    ctrlready's API and against a bare Django view doing the same writes (find the token, lock the
    deployment's row, update the item, insert the event: bench/ticks_urls.py). One gunicorn serves
    both, so the settings, the database and the run are the same; the two take turns, several rounds.

Every tick is a real change (each person ticks their own items, passed and failed in turn) on one
deployment, so every write contends for the same deployment row. The load generator is a small
asyncio HTTP/1.1 client (keep-alive, prebuilt requests) on the same machine: its CPU is reported.

    .venv/bin/python bench/ticks.py   (needs the local PostgreSQL)

BENCH_WORKERS and BENCH_THREADS set gunicorn's (default 3 × 4), BENCH_CLIENTS the closed loop's
concurrency (16), BENCH_ROUNDS its rounds (3) and BENCH_SECONDS each turn's length (5).
"""

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import ROOT, django_on_bench_database

PEOPLE = 50
RATE_PER_PERSON = 0.5  # ticks per second: 25 ticks/s offered in all
OPEN_SECONDS = 20
ITEMS_PER_PERSON = 12  # an item comes back only after 12 ticks (~24 s): two ticks never race for one item
WORKERS = int(os.environ.get("BENCH_WORKERS", 3))
THREADS = int(os.environ.get("BENCH_THREADS", 4))
CLOSED_CLIENTS = int(os.environ.get("BENCH_CLIENTS", 16))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
CLOSED_SECONDS = float(os.environ.get("BENCH_SECONDS", 5))
TARGET_P99_MS = 150


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Connection:
    """One keep-alive HTTP/1.1 connection; a request the server never read (it closed an idle
    connection as the request went out) is sent again on a new one."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        for _ in range(2):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                self.writer.write(request)
                head = await self.reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as error:
                self.close()
                if fresh or getattr(error, "partial", b""):
                    raise
                continue
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            length = int(lower[at + 17 : lower.index(b"\r\n", at + 2)]) if at >= 0 else 0
            body = await self.reader.readexactly(length)
            if b"\r\nconnection: close" in lower:
                self.close()
            return int(head[9:12]), body
        raise ConnectionError("the server closed the connection twice")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Ticker:
    """A person ticking their own items through one endpoint, each item passed and failed in turn."""

    def __init__(self, port: int, token: str, path: str, keys: list[str]):
        self.keys, self.n = keys, 0
        self.head = (
            f"POST {path}{{key}} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            "X-Forwarded-Proto: https\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )

    def next_request(self) -> bytes:
        key = self.keys[self.n % len(self.keys)]
        state = "passed" if (self.n // len(self.keys)) % 2 == 0 else "failed"
        self.n += 1
        body = f'{{"state": "{state}"}}'
        return (self.head.format(key=key, length=len(body)) + body).encode()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))]


async def open_loop(port: int, tickers: list[Ticker], seed: int = 7):
    """Each person's ticks at Poisson times for OPEN_SECONDS; latency from each tick's scheduled time."""
    rng = random.Random(seed)
    schedule = []
    for person in range(len(tickers)):
        at = rng.expovariate(RATE_PER_PERSON)
        while at < OPEN_SECONDS:
            schedule.append((at, person))
            at += rng.expovariate(RATE_PER_PERSON)
    schedule.sort()
    idle = [[Connection(port)] for _ in tickers]
    for person, ticker in enumerate(tickers):  # open each person's connection before the clock starts
        await idle[person][0].send(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    results = []

    async def tick(at: float, person: int):
        await asyncio.sleep(start + at - loop.time())
        late = loop.time() - (start + at)
        connection = idle[person].pop() if idle[person] else Connection(port)  # a person's browser opens another
        request = tickers[person].next_request()
        try:
            status, body = await connection.send(request)
        except (OSError, asyncio.IncompleteReadError) as error:
            status, body = 0, repr(error).encode()
            connection.close()
        results.append(((loop.time() - start - at) * 1000, status, body[:200], late * 1000))
        idle[person].append(connection)

    cpu = time.process_time()
    await asyncio.gather(*(tick(at, person) for at, person in schedule))
    return results, loop.time() - start, time.process_time() - cpu


async def closed_loop(tickers: list[Ticker], port: int, seconds: float):
    """Every client sends its next tick as soon as the last is answered, for `seconds`."""
    loop = asyncio.get_running_loop()
    stop = loop.time() + seconds
    done, errors = [0], []

    async def client(ticker: Ticker):
        connection = Connection(port)
        while loop.time() < stop:
            status, body = await connection.send(ticker.next_request())
            if status == 200:
                done[0] += 1
            else:
                errors.append((status, body[:200]))
        connection.close()

    started, cpu = loop.time(), time.process_time()
    await asyncio.gather(*(client(ticker) for ticker in tickers))
    return done[0], errors, loop.time() - started, time.process_time() - cpu


def server_cpu(master: int) -> float:
    """CPU seconds used so far by gunicorn's workers (the children of `master`)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def load() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def main() -> None:
    django_on_bench_database("ctrlready_bench_ticks")
    import httpx
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.db.models import Count

    from checklists.deployments import deployment_create
    from checklists.imports import checklist_import
    from checklists.models import Environment, Item, Service
    from core.actors import SYSTEM
    from core.models import Event
    from core.tokens import api_token_create

    count = PEOPLE * ITEMS_PER_PERSON
    lines = ["# Ticks", "", "## Items", ""] + [f"- [ ] Item {i} {{#item-{i}}}" for i in range(count)]
    version = checklist_import(markdown="\n".join(lines) + "\n", name="ticks", actor=SYSTEM, source="cli").version
    environment = Environment.objects.create(service=Service.objects.create(name="ticks"), name="x", base_url="http://127.0.0.1:9")
    engineers = Group.objects.get_or_create(name="engineer")[0]
    people = [User.objects.create(username=f"engineer-{i}") for i in range(max(PEOPLE, 2 * CLOSED_CLIENTS))]
    engineers.user_set.add(*people)
    tokens = [api_token_create(user=person) for person in people]
    deployments = {
        name: deployment_create(
            environment=environment, checklist_slug=version.checklist.slug, release=name, actor=people[0], source="cli"
        )
        for name in ("open", "open-bare", "ctrlready", "bare")
    }
    keys = list(Item.objects.filter(version=version).order_by("position").values_list("key", flat=True))
    keys_of = [keys[ITEMS_PER_PERSON * i : ITEMS_PER_PERSON * (i + 1)] for i in range(count // ITEMS_PER_PERSON)]
    with connection.cursor() as cursor:  # statistics, as autovacuum gathers them on a database in use
        cursor.execute("ANALYZE")

    def events(name: str) -> int:
        """The deployment's `state` events: the one line of history each tick must write."""
        return Event.objects.filter(deployment_ref=deployments[name].pk, kind=Event.Kind.STATE).count()

    def other_events(name: str) -> str:
        """The deployment's other events, by kind (a tick that fails an item also appends `item_failed`)."""
        kinds = (
            Event.objects.filter(deployment_ref=deployments[name].pk)
            .exclude(kind__in=[Event.Kind.STATE, Event.Kind.DEPLOYMENT_CREATED])
            .values_list("kind").annotate(n=Count("id")).order_by("kind")
        )
        return ", ".join(f"{n} {kind}" for kind, n in kinds) or "none"

    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="ctrlready-bench-ticks-")) / "gunicorn.log"
    env = {  # production settings, as gunicorn runs them behind a TLS-terminating proxy (X-Forwarded-Proto)
        **os.environ, "DEBUG": "0", "SECRET_KEY": "bench-" + "x" * 50, "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "ticks_settings",
    }
    env.pop("LOG_LEVEL", None)
    command = [
        sys.executable, "-m", "gunicorn", "ctrlready.wsgi:application", "--pythonpath", str(ROOT / "bench"),
        "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS), "--threads", str(THREADS), "--access-logfile", "-",
    ]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"gunicorn did not answer; see {log}")

        def tickers(name: str, first: int, number: int, *, bare: bool = False) -> list[Ticker]:
            pk = deployments[name].pk
            path = f"/bench/bare-tick/{pk}/" if bare else f"/api/v1/deployments/{pk}/items/"
            return [Ticker(port, tokens[first + i], path, keys_of[first + i]) for i in range(number)]

        # Warm every worker and thread up on both endpoints (imports, connections, the tokens' last use).
        sides = {
            "ctrlready": tickers("ctrlready", 0, CLOSED_CLIENTS),
            "bare": tickers("bare", CLOSED_CLIENTS, CLOSED_CLIENTS, bare=True),
        }
        asyncio.run(closed_loop(sides["ctrlready"] + sides["bare"], port, 2.0))

        # (a) Open loop: ctrlready, then bare Django on the same schedule, for scale.
        opened = {}
        for side, name, bare in (("ctrlready", "open", False), ("bare", "open-bare", True)):
            before, load_before = events(name), load()
            results, wall, generator_cpu = asyncio.run(open_loop(port, tickers(name, 0, PEOPLE, bare=bare)))
            opened[side] = (results, wall, generator_cpu, events(name) - before, load_before, load())
        results, wall, generator_cpu, written, load_before, load_after = opened["ctrlready"]
        latencies = [ms for ms, _, _, _ in results]
        errors = [(status, body) for _, status, body, _ in results if status != 200]
        late = max(late_ms for _, _, _, late_ms in results)
        p99 = percentile(latencies, 0.99)
        held = p99 <= TARGET_P99_MS and not errors and written == len(results)
        print(f"P3 (a) {PEOPLE} people ticking about every {1 / RATE_PER_PERSON:g} s (Poisson, {PEOPLE * RATE_PER_PERSON:g} ticks/s "
              f"offered) for {OPEN_SECONDS} s; gunicorn {WORKERS} workers × {THREADS} threads, production settings")
        print(f"    ticks           : {len(results)}, the last answered {wall:.1f} s after the first was due")
        print(f"    errors          : {len(errors)}" + (f"  first: {errors[0]}" if errors else ""))
        print(f"    events per tick : {written / len(results):.2f}  ({written} state events for {len(results)} ticks; "
              f"besides them: {other_events('open')})")
        print(f"    latency ms      : p50 {percentile(latencies, 0.5):.0f}  p95 {percentile(latencies, 0.95):.0f}  "
              f"p99 {p99:.0f}  max {max(latencies):.0f}  (from each tick's scheduled time; target p99 ≤ {TARGET_P99_MS})"
              f"  {'held' if held else 'MISSED'}")
        print(f"    load generator  : {generator_cpu:.1f} s CPU, sent at most {late:.1f} ms after schedule")
        print(f"    load average    : {load_before} before, {load_after} after (2 cores)")
        results, wall, _, written, load_before, load_after = opened["bare"]
        latencies = [ms for ms, _, _, _ in results]
        errors = [status for _, status, _, _ in results if status != 200]
        print(f"    bare Django, same schedule: p50 {percentile(latencies, 0.5):.0f}  p95 {percentile(latencies, 0.95):.0f}  "
              f"p99 {percentile(latencies, 0.99):.0f} ms, {len(errors)} errors, {written / len(results):.2f} state events per tick "
              f"(load {load_before} before, {load_after} after)")

        # (b) Capacity: ctrlready and bare Django take turns, the same clients' count each.
        print(f"P3 (b) capacity, closed loop: {CLOSED_CLIENTS} clients, {ROUNDS} rounds of {CLOSED_SECONDS:g} s each, "
              "ctrlready's API and bare Django in turn")
        totals = {side: [0, 0.0, 0.0, 0.0, []] for side in sides}  # ticks, seconds, server CPU, generator CPU, errors
        events_before = {side: events(side) for side in sides}
        for round_ in range(ROUNDS):
            order = ["ctrlready", "bare"] if round_ % 2 == 0 else ["bare", "ctrlready"]
            rates = {}
            for side in order:
                cpu_before = server_cpu(server.pid)
                done, errs, seconds, gen_cpu = asyncio.run(closed_loop(sides[side], port, CLOSED_SECONDS))
                total = totals[side]
                total[0] += done
                total[1] += seconds
                total[2] += server_cpu(server.pid) - cpu_before
                total[3] += gen_cpu
                total[4] += errs
                rates[side] = done / seconds
            print(f"    round {round_ + 1}       : ctrlready {rates['ctrlready']:.0f}/s, bare {rates['bare']:.0f}/s, "
                  f"ratio {rates['ctrlready'] / rates['bare']:.2f}  (load {load()})")
        rate = {side: totals[side][0] / totals[side][1] for side in sides}
        for side in sides:
            done, seconds, cpu, gen_cpu, errs = totals[side]
            written = events(side) - events_before[side]
            print(f"    {side:<16}: {rate[side]:.0f} ticks/s, {1000 * cpu / done:.1f} ms of gunicorn CPU per tick, "
                  f"load generator {1000 * gen_cpu / done:.2f} ms per tick, {len(errs)} errors"
                  + (f" (first: {errs[0]})" if errs else "") + f", {written / done:.2f} state events per tick")
        ratio = rate["ctrlready"] / rate["bare"]
        print(f"    ratio           : {ratio:.2f} × bare Django (target ≥ 0.5)  {'held' if ratio >= 0.5 else 'MISSED'}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
