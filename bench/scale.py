"""Scale: the broker on PostgreSQL holding 10,000 tenants and 150,000 registrations (one tenant holds 100,000,
the others 5 each), measured through a real `broker serve` process.

The database is filled with bulk inserts (SQLAlchemy Core, thousands of rows a statement), not through the
API, so the fill takes a minute rather than hours; then `VACUUM ANALYZE`, as a database in use would have its
statistics. Printed:

- the API's list pages (100 items, with filters and cursors) for the big tenant and across tenants: p50/p99,
  and the broker's CPU per page, with the scale indexes (migration 0014) and without them, and with BENCH_BEFORE
  the other checkout's broker on the same database, in alternating rounds (the in-run baselines);
- `EXPLAIN (ANALYZE, BUFFERS)` of each hot query, captured from the broker's own query functions as they run:
  the list pages, the registration lookup at launch, the interrupted-attempt sweep and the pruning of
  abandoned attempts;
- the key ring's memory: the server's RSS before and after serving the JWKS of BENCH_SCALE_KEY_RING tenants (default
  1,000), per tenant;
- RSS under mixed load (API lists, JWKS, launches, registrations) for BENCH_SCALE_MINUTES (default 10),
  printed each minute, and its slope over the second half: it must stay flat.

The database is BENCH_DATABASE_URL when set (a PostgreSQL database it may fill), else a new database made on
BENCH_SCALE_SERVER (default postgresql://postgres@127.0.0.1:5432/postgres) and dropped at the end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from joserfc.jwk import RSAKey

from bench import deployment, host_speed, platform
from bench.deployment import BASE_URL, BROKER, SECRET_KEY, TOOL_URL
from bench.launch import User
from bench.loadgen import Connection, before_source, free_port, percentile, process_cpu_seconds
from bench.registration import Admin
from broker.database import Database, new_id, sync_url
from broker.migrate import alembic_config
from broker.schema import metadata
from tenants.api_keys import generate_api_key
from tenants.encryption import SecretBox
from tenants.key_generator import generate_signing_key
from tenants.keys import public_jwk

TENANTS = int(os.environ.get("BENCH_SCALE_TENANTS", "10000"))
BIG_TENANT_REGISTRATIONS = int(os.environ.get("BENCH_SCALE_BIG", "100000"))
REGISTRATIONS_PER_TENANT = 5
MINUTES = float(os.environ.get("BENCH_SCALE_MINUTES", "10"))
KEY_RING_TENANTS = int(os.environ.get("BENCH_SCALE_KEY_RING", "1000"))
SERVER = os.environ.get("BENCH_SCALE_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")
# The limits in Redis, as the README advises beside PostgreSQL: otherwise every API call commits a limit row, and
# the figure would be the disk's fsync. BENCH_SCALE_REDIS_URL= (empty) keeps them in the database.
REDIS_URL = os.environ.get("BENCH_SCALE_REDIS_URL", "redis://127.0.0.1:6379/0")
INDEX_REVISION = "0014"
REQUESTS_PER_KIND = 40
ROUNDS = 2
BATCH = 2_000
FAMILIES = (("moodle", 40), ("canvas", 30), ("brightspace", 10), ("blackboard", 10), ("sakai", 5), ("schoology", 5))
STATUSES = (("active", 90), ("pending", 6), ("disabled", 4))
ISSUERS = 2_000
SCOPES = platform.SCOPES


def main() -> None:
    # A stopped run still drops its database and stops its servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with scale_database() as database_url:
        started = time.perf_counter()
        env = broker_env(database_url)
        subprocess.run([BROKER, "db", "upgrade"], env={**os.environ, **env}, check=True, capture_output=True)  # noqa: S603
        population = fill(database_url)
        print(f"Scale, PostgreSQL: {TENANTS:,} tenants, {population.registrations:,} registrations "
              f"(one tenant holds {BIG_TENANT_REGISTRATIONS:,}, the others {REGISTRATIONS_PER_TENANT} each), "
              f"{population.attempts:,} attempts; filled in {time.perf_counter() - started:.0f} s; "
              f"load average {_load_average()}; limits in {'Redis' if REDIS_URL else 'the database'}")
        with platform.running() as (lms, key), broker_serving(env) as server:
            live = live_tenants(env, server, lms.url)
            with timed("API list pages"):
                if before_source():
                    with broker_serving(env, before_source()) as before:
                        list_latencies({"this": server, "before": before}, population, database_url)
                else:
                    list_latencies({"this": server}, population, database_url)
            with timed("plans"):
                explain_hot_queries(database_url, population)
            with timed("key ring"):
                key_ring_memory(server, population)
            with timed("mixed load"):
                mixed_load(server, population, live, lms.url, key)
        print(f"  load average at the end {_load_average()}; {time.perf_counter() - started:.0f} s in all")


@contextmanager
def timed(phase: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    print(f"  ({phase}: {time.perf_counter() - started:.0f} s)", flush=True)


# The database --------------------------------------------------------------------------------------------


@contextmanager
def scale_database() -> Iterator[str]:
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        yield given
        return
    name = "bench_scale_" + secrets.token_hex(4)
    server = sa.create_engine(sync_url(SERVER), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def broker_env(database_url: str) -> dict[str, str]:
    return {
        **deployment.broker_env(database_url),
        "BROKER_API_RATE_LIMIT": "1000000",
        **({"BROKER_REDIS_URL": REDIS_URL} if REDIS_URL else {}),
    }


@dataclass
class TenantKey:
    id: str
    slug: str
    api_key: str


@dataclass
class Population:
    big: TenantKey
    small: list[TenantKey]
    big_registration_ids: list[str]
    issuers: dict[str, list[str]]  # tenant id -> the issuers of its registrations
    registrations: int = 0
    attempts: int = 0
    stalled: int = 0


def _weighted(choices: Sequence[tuple[str, int]], rng: random.Random) -> str:
    return rng.choices([value for value, _ in choices], [weight for _, weight in choices])[0]


def fill(database_url: str) -> Population:
    """Tenants, API keys, signing keys, registrations, deployments and attempts, in batches of rows."""
    rng = random.Random(13)
    box = SecretBox(SECRET_KEY)
    engine = sa.create_engine(sync_url(database_url))
    tables = metadata.tables
    now = datetime.now(UTC)
    run = secrets.token_hex(3)
    base_keys = [generate_signing_key() for _ in range(4)]
    tenant_keys: list[TenantKey] = []
    tenants, api_keys, signing_keys = [], [], []
    for n in range(TENANTS):
        tenant_id, api_key = new_id("ten"), generate_api_key()
        tenant_keys.append(TenantKey(tenant_id, f"s{run}-{n}", api_key.plaintext))
        tenants.append({
            "id": tenant_id, "slug": f"s{run}-{n}", "name": f"Tool {n}", "tool_url": TOOL_URL,
            "tool_configuration": {}, "review_registrations": True, "activation_policy": "active",
            "accept_new_deployments": True, "created_at": now, "updated_at": now,
        })
        api_keys.append({
            "id": new_id("key"), "tenant_id": tenant_id, "name": "default", "prefix": api_key.prefix,
            "digest": api_key.digest, "created_at": now,
        })
        # A few real keys, each stored under a kid of its own per tenant: generating 10,000 RSA keys takes long.
        key = base_keys[n % len(base_keys)]
        kid = f"{key.kid}-{n}"
        private = {**key.as_dict(private=True), "kid": kid}
        signing_keys.append({
            "tenant_id": tenant_id, "kid": kid, "status": "active", "created_at": now, "activated_at": now,
            "private_key_encrypted": box.encrypt(json.dumps(private, separators=(",", ":"))),
            "public_jwk": {**public_jwk(key), "kid": kid},
        })
    population = Population(tenant_keys[0], tenant_keys[1:], [], defaultdict(list))
    with engine.begin() as connection:
        for table, rows in (("tenants", tenants), ("api_keys", api_keys), ("signing_keys", signing_keys)):
            _insert(connection, tables[table], rows)
    owners = [tenant_keys[0].id] * BIG_TENANT_REGISTRATIONS + [
        tenant.id for tenant in tenant_keys[1:] for _ in range(REGISTRATIONS_PER_TENANT)
    ]
    # Oldest first, so that ids (which sort by creation time) and created_at agree.
    start = now - timedelta(days=730)
    step = timedelta(days=729) / len(owners)
    for offset in range(0, len(owners), BATCH):
        registrations, deployments, attempts = [], [], []
        for n in range(offset, min(offset + BATCH, len(owners))):
            created = start + step * n
            row = _registration(rng, owners[n], n, created, now)
            registrations.append(row)
            deployments.append({"registration_id": row["id"], "deployment_id": f"dep-{n}", "source": "registration",
                                "created_at": created})
            attempts.append(_attempt(row, "succeeded", created))
            if owners[n] == population.big.id:
                population.big_registration_ids.append(row["id"])
            else:
                population.issuers[owners[n]].append(row["issuer"])
        with engine.begin() as connection:
            _insert(connection, tables["registrations"], registrations)
            _insert(connection, tables["deployments"], deployments)
            _insert(connection, tables["registration_attempts"], attempts)
        population.registrations += len(registrations)
        population.attempts += len(attempts)
    with engine.begin() as connection:
        _insert(connection, tables["registration_attempts"], _other_attempts(rng, population, now))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()
    return population


def _insert(connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for offset in range(0, len(rows), BATCH):
        connection.execute(sa.insert(table), rows[offset:offset + BATCH])


def _registration(rng: random.Random, tenant_id: str, n: int, created: datetime, now: datetime) -> dict[str, Any]:
    issuer = f"https://lms{rng.randrange(ISSUERS)}.example.edu"
    family = _weighted(FAMILIES, rng)
    configuration = platform.configuration(issuer)
    configuration[platform.PLATFORM_CONFIGURATION] = {
        **configuration[platform.PLATFORM_CONFIGURATION], "product_family_code": family,
    }
    request = _registration_request(tenant_id)
    response = {**request, "client_id": f"client-{n}", "scope": " ".join(SCOPES)}
    updated = created + (now - created) * rng.random() ** 4  # most were not changed since
    return {
        "id": new_id("reg"), "tenant_id": tenant_id, "issuer": issuer, "client_id": f"client-{n}",
        "status": _weighted(STATUSES, rng), "product_family_code": family, "platform_profile": family,
        "adaptations": [], "platform_version": "4.3", "authorization_endpoint": configuration["authorization_endpoint"],
        "token_endpoint": configuration["token_endpoint"], "authorization_server": None,
        "jwks_uri": configuration["jwks_uri"], "registration_endpoint": configuration["registration_endpoint"],
        "scopes_requested": SCOPES, "scopes_granted": SCOPES, "platform_configuration": configuration,
        "registration_request": request, "registration_response": response,
        "verified_at": None, "launched_at": updated, "created_at": created, "updated_at": updated,
    }


def _registration_request(tenant_id: str) -> dict[str, Any]:
    tool = f"{BASE_URL}/t/{tenant_id}"
    return {
        "application_type": "web", "response_types": ["id_token"], "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": tool + "/lti/login", "redirect_uris": [tool + "/lti/launch"],
        "client_name": "Tool", "jwks_uri": tool + "/.well-known/jwks.json", "token_endpoint_auth_method":
        "private_key_jwt", "scope": " ".join(SCOPES),
        platform.TOOL_CONFIGURATION: {
            "domain": "broker.bench", "target_link_uri": tool + "/lti/launch", "claims": ["iss", "sub", "name"],
            "messages": [{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}],
        },
    }


def _attempt(registration: dict[str, Any], status: str, at: datetime) -> dict[str, Any]:
    return {
        "id": new_id("att"), "tenant_id": registration["tenant_id"], "status": status,
        "openid_configuration_url": registration["issuer"] + platform.CONFIGURATION_PATH,
        "issuer": registration["issuer"], "product_family_code": registration["product_family_code"],
        "platform_profile": registration["platform_profile"],
        "platform_configuration": registration["platform_configuration"],
        "registration_request": registration["registration_request"], "response_status": 201,
        "response_body": json.dumps(registration["registration_response"]), "registration_id": registration["id"],
        "verify_uses": 0, "created_at": at, "updated_at": at,
    }


def _other_attempts(rng: random.Random, population: Population, now: datetime) -> list[dict[str, Any]]:
    """Failed and abandoned attempts of the big tenant, and attempts stalled mid-flight across tenants: a few
    hundred that the sweep marks (older than 10 minutes), as many it leaves (recent)."""
    rows = []
    for n in range(20_000):
        status = rng.choice(("failed", "reviewing", "conflict"))
        at = now - timedelta(days=60) * rng.random()
        rows.append(_bare_attempt(population.big.id, status, at, n))
    for n in range(600):
        tenant = rng.choice(population.small)
        stalled = n % 2 == 0
        population.stalled += stalled
        at = now - (timedelta(hours=5) if stalled else timedelta(minutes=1)) * rng.random() - (
            timedelta(minutes=11) if stalled else timedelta(0))
        rows.append(_bare_attempt(tenant.id, rng.choice(("fetching", "submitting")), at, n))
    population.attempts += len(rows)
    return rows


def _bare_attempt(tenant_id: str, status: str, at: datetime, n: int) -> dict[str, Any]:
    return {
        "id": new_id("att"), "tenant_id": tenant_id, "status": status,
        "openid_configuration_url": f"https://lms{n % ISSUERS}.example.edu{platform.CONFIGURATION_PATH}",
        "issuer": None, "error_code": "PlatformError" if status == "failed" else None,
        "verify_uses": 0, "created_at": at, "updated_at": at,
    }


# The server ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    address: str
    pid: int


@contextmanager
def broker_serving(env: dict[str, str], source: str = "") -> Iterator[Served]:
    """`broker serve` in a process group of its own (so its key-generating children stop with it); from the
    checkout at `source` when given (BENCH_BEFORE), with its own virtualenv when it has one."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="bench-scale-broker-", suffix=".log", delete=False)  # noqa: SIM115
    print(f"  broker serve{' (' + source + ')' if source else ''} logs to {log.name}")
    command = [BROKER, "serve", "--host", "127.0.0.1", "--port", str(port)]
    if source:
        own = Path(source) / ".venv" / "bin" / "python"
        command = [str(own) if own.exists() else sys.executable, "-m", "broker.cli", *command[1:]]
        env = {**env, "PYTHONPATH": source}
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        command, env={**os.environ, **env}, cwd=source or None,
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=log,
    )
    try:
        _wait_ready(f"127.0.0.1:{port}", process)
        yield Served(f"127.0.0.1:{port}", process.pid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_ready(address: str, process: subprocess.Popen[bytes]) -> None:
    async def ready() -> bool:
        try:
            connection = await Connection.open(address)
        except OSError:
            return False
        try:
            return (await connection.get("/readyz")).status == 200
        finally:
            connection.close()

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("broker serve exited during start-up")
        if asyncio.run(ready()):
            return
        time.sleep(0.2)
    raise RuntimeError("broker serve was not ready within 60 s")


def rss_mib(pid: int) -> float:
    """Resident memory of the process and its children, in MiB."""
    total = 0
    for process in [pid, *_descendants(pid)]:
        try:
            with open(f"/proc/{process}/status") as handle:
                total += next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))
        except (FileNotFoundError, StopIteration):
            continue
    return total / 1024


def _descendants(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children = [int(child) for child in handle.read().split()]
        except FileNotFoundError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


@dataclass(frozen=True)
class LiveTenant:
    slug: str
    client_id: str
    deployment_id: str


def live_tenants(env: dict[str, str], server: Served, lms_url: str, count: int = 2) -> list[LiveTenant]:
    """Tenants made through the command line and registered with the bench platform by a registration flow:
    the mixed load launches with them and registers them again."""
    live = []
    for _ in range(count):
        slug = "live-" + secrets.token_hex(4)
        _cli(env, "tenants", "create", slug, "--name", "Live Tool", "--tool-url", TOOL_URL)

        async def register(slug: str = slug) -> None:
            connection = await Connection.open(server.address)
            try:
                await Admin(connection, slug, lms_url).register()
            finally:
                connection.close()

        asyncio.run(register())
        item = _cli(env, "registrations", "list", "--tenant", slug)["items"][0]
        live.append(LiveTenant(slug, item["client_id"], item["deployment_ids"][0]))
    return live


def _cli(env: dict[str, str], *arguments: str) -> Any:
    output = subprocess.run(  # noqa: S603 - fixed arguments
        [BROKER, *arguments, "--json"], env={**os.environ, **env}, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output)


# API list latency ------------------------------------------------------------------------------------------


def _cursor(registration_id: str) -> str:
    return base64.urlsafe_b64encode(registration_id.encode()).decode().rstrip("=")


def list_targets(population: Population, rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    """(API key, path) per kind of list page, REQUESTS_PER_KIND of each."""
    big = population.big
    since_recent = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    since_year = (datetime.now(UTC) - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def deep(**query: str) -> str:
        cursor = rng.choice(population.big_registration_ids[: -200])
        return "/api/v1/registrations?" + urlencode({"limit": "100", **query, "cursor": _cursor(cursor)})

    def first(**query: str) -> str:
        return "/api/v1/registrations?" + urlencode({"limit": "100", **query})

    kinds: dict[str, Callable[[], tuple[str, str]]] = {
        "big: first page": lambda: (big.api_key, first()),
        "big: page at a cursor": lambda: (big.api_key, deep()),
        "big: status=pending, cursor": lambda: (big.api_key, deep(status="pending")),
        "big: status=disabled, first page": lambda: (big.api_key, first(status="disabled")),
        "big: product_family_code=sakai, cursor": lambda: (big.api_key, deep(product_family_code="sakai")),
        "big: active canvas, cursor": lambda: (big.api_key, deep(status="active", product_family_code="canvas")),
        "big: updated_since a day (polling)": lambda: (big.api_key, first(updated_since=since_recent)),
        "big: updated_since a year, cursor": lambda: (big.api_key, deep(updated_since=since_year)),
        "big: attempts status=failed": lambda: (big.api_key, "/api/v1/registration-attempts?limit=100&status=failed"),
        "across tenants: first page": lambda: (rng.choice(population.small).api_key, first()),
        "across tenants: status=active": lambda: (rng.choice(population.small).api_key, first(status="active")),
        "across tenants: attempts": lambda: (
            rng.choice(population.small).api_key, "/api/v1/registration-attempts?limit=100"),
    }
    return {kind: [make() for _ in range(REQUESTS_PER_KIND)] for kind, make in kinds.items()}


async def _timed_gets(address: str, targets: list[tuple[str, str]]) -> list[float]:
    connection = await Connection.open(address)
    latencies = []
    try:
        for api_key, path in targets:
            started = time.perf_counter()
            answer = await connection.get(path, f"Authorization: Bearer {api_key}\r\n")
            latencies.append(time.perf_counter() - started)
            if answer.status != 200:
                raise RuntimeError(f"{path} answered {answer.status}: {answer.body[:300]!r}")
    finally:
        connection.close()
    return latencies


def list_latencies(servers: dict[str, Served], population: Population, database_url: str) -> None:
    """One request at a time (latency, not queueing), in alternating rounds: this broker with the scale indexes,
    the broker at BENCH_BEFORE with them (when given), and this broker without them (the in-run baselines); the
    host's speed measured in every round, so that the target is judged on the scale of the host it was set on."""
    targets = list_targets(population, random.Random(7))
    variants = [(name, server, True) for name, server in servers.items()]
    variants.append(("without indexes", servers["this"], False))
    for server in servers.values():
        asyncio.run(_timed_gets(server.address, [pair for pairs in targets.values() for pair in pairs[:10]]))  # warm-up
    results: dict[tuple[str, str], list[float]] = defaultdict(list)
    cpu: dict[tuple[str, str], float] = defaultdict(float)
    bare_request_ms: list[float] = []
    with host_speed.bare_route() as bare_route:
        host_speed.bare_request_ms(bare_route)  # warm-up
        for _ in range(ROUNDS):
            bare_request_ms.append(host_speed.bare_request_ms(bare_route))
            for variant, server, indexed in variants:
                _set_scale_indexes(database_url, indexed)
                for kind, pairs in targets.items():
                    cpu_before = process_cpu_seconds(server.pid)
                    results[kind, variant] += asyncio.run(_timed_gets(server.address, pairs))
                    cpu[kind, variant] += process_cpu_seconds(server.pid) - cpu_before
    _set_scale_indexes(database_url, True)
    names = [variant for variant, _, _ in variants]
    report_lists(names, list(targets), results, cpu, host_speed.HostSpeed(bare_request_ms, host_speed.rsa_sign_ms()))


def report_lists(
    variants: list[str],
    kinds: list[str],
    results: dict[tuple[str, str], list[float]],
    cpu: dict[tuple[str, str], float],
    speed: host_speed.HostSpeed,
) -> None:
    print(f"\nAPI list pages of 100 (one request at a time, {ROUNDS} alternating rounds of {REQUESTS_PER_KIND} each "
          f"per variant), ms: p50, p99 and the broker's CPU per page; load average {_load_average()}:")
    print(f"  {'page':44} " + "  ".join(f"{variant[:19]:>19}" for variant in variants))
    count = ROUNDS * REQUESTS_PER_KIND
    every_page: dict[str, dict[str, list[float]]] = {}
    for scope in ("big", "across"):
        together = every_page[scope] = defaultdict(list)
        for kind in [kind for kind in kinds if kind.startswith(scope)]:
            cells = []
            for variant in variants:
                together[variant] += results[kind, variant]
                latencies = results[kind, variant]
                cells.append(f"{_ms(latencies, 0.5):6.1f} {_ms(latencies, 0.99):6.1f} "
                             f"{1000 * cpu[kind, variant] / count:5.1f}")
            print(f"  {kind:44} " + "  ".join(cells))
        print(f"  {'= ' + scope + ', every page (target p99 < 20 ms)':44} " + _every_page(together, variants))
    print("  (CPU: the broker process's CPU per request, ms, read from /proc: the load on the machine does not "
          "add to it)")
    print(f"  {speed.describe()}")
    for scope, pages in every_page.items():
        label = f"= {scope}, every page on the targets' host"
        print(f"  {label:44} " + _every_page(pages, variants, speed.scale))
    print("  (on the targets' host: p50 and p99 times the host's scale; one request at a time, a page's time is the "
          "broker's and the database's work on this host's cores)")


def _every_page(pages: dict[str, list[float]], variants: list[str], scale: float = 1.0) -> str:
    """Each variant's p50 and p99 over every page, times `scale`, in the columns of the per-kind lines."""
    return "  ".join(
        f"{scale * _ms(pages[variant], 0.5):6.1f} {scale * _ms(pages[variant], 0.99):6.1f} {'':5}"
        for variant in variants
    )


def _ms(latencies: list[float], fraction: float) -> float:
    return 1000 * percentile(latencies, fraction)


def _scale_indexes() -> list[sa.Index]:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    names = {name for name, *_ in scripts.get_revision(INDEX_REVISION).module.INDEXES}
    return [index for table in metadata.tables.values() for index in table.indexes if index.name in names]


def _set_scale_indexes(database_url: str, present: bool) -> None:
    engine = sa.create_engine(sync_url(database_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for index in _scale_indexes():
            if present:
                index.create(connection, checkfirst=True)
            else:
                connection.execute(sa.text(f"DROP INDEX IF EXISTS {index.name}"))
        connection.execute(sa.text("ANALYZE registrations, registration_attempts"))
    engine.dispose()


# Plans -----------------------------------------------------------------------------------------------------


def explain_hot_queries(database_url: str, population: Population) -> None:
    """Runs the broker's own query functions, captures the SQL they send, and prints its EXPLAIN ANALYZE."""
    from broker.launch.directory import LaunchDirectory
    from broker.registration import attempts
    from broker.registration.queries import RegistrationFilter, registration_page

    rng = random.Random(3)
    small = rng.choice(population.small)
    cursor = population.big_registration_ids[len(population.big_registration_ids) // 2]
    box = SecretBox(SECRET_KEY)
    since = datetime.now(UTC) - timedelta(days=1)
    cases: list[tuple[str, Callable[[Database], Awaitable[Any]]]] = [
        ("API list, big tenant, page at a cursor", lambda db: registration_page(
            db, tenant_id=population.big.id, after_id=cursor, limit=101)),
        ("API list, big tenant, status=pending at a cursor", lambda db: registration_page(
            db, tenant_id=population.big.id, after_id=cursor, limit=101, filters=RegistrationFilter(status="pending"))),
        ("API list, big tenant, updated_since a day (polling)", lambda db: registration_page(
            db, tenant_id=population.big.id, limit=101, filters=RegistrationFilter(updated_since=since))),
        ("API list, a small tenant", lambda db: registration_page(db, tenant_id=small.id, limit=101)),
        ("API attempts, big tenant, status=failed", lambda db: attempts.attempt_page(
            db, tenant_id=population.big.id, status="failed", limit=101)),
        ("registration lookup at launch (tenant, issuer)", lambda db: LaunchDirectory(db, box).registrations(
            small.id, population.issuers[small.id][0])),
        ("registration lookup at launch, big tenant", lambda db: LaunchDirectory(db, box).registrations(
            population.big.id, "https://lms7.example.edu")),
        ("interrupted-attempt sweep", attempts.interrupt_stalled),
        ("pruning abandoned attempts", lambda db: attempts.prune_abandoned(
            db, datetime.now(UTC) - timedelta(days=30))),
    ]
    print("\nPlans of the hot queries (EXPLAIN (ANALYZE, BUFFERS) of the SQL the broker's functions sent; "
          "writes rolled back):")
    for title, call in cases:
        for statement, parameters in _captured(database_url, call):
            print(f"\n  -- {title}\n  {_one_line(statement)}")
            for line in _explain(database_url, statement, parameters):
                print("    " + (line if len(line) < 200 else line[:200] + " …"))


def _captured(database_url: str, call: Callable[[Database], Awaitable[Any]]) -> list[tuple[str, Any]]:
    statements: list[tuple[str, Any]] = []

    def record(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> tuple[str, Any]:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in ("SELECT", "UPDATE", "DELETE"):
            statements.append((statement, parameters))
        if verb in ("UPDATE", "DELETE"):
            # Not carried out here: its plan is measured in a transaction rolled back, on the rows as they are.
            return "SELECT 1 WHERE false", {}
        return statement, parameters

    async def run() -> None:
        database = Database(database_url)
        sa.event.listen(database.engine.sync_engine, "before_cursor_execute", record, retval=True)
        try:
            await call(database)
        finally:
            await database.dispose()

    asyncio.run(run())
    return statements


def _explain(database_url: str, statement: str, parameters: Any) -> list[str]:
    engine = sa.create_engine(sync_url(database_url))
    with engine.connect() as connection:
        transaction = connection.begin()
        rows = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
        transaction.rollback()
    engine.dispose()
    return [row[0] for row in rows]


def _one_line(statement: str) -> str:
    text = " ".join(statement.split())
    return text if len(text) < 400 else text[:400] + " …"


# Memory ----------------------------------------------------------------------------------------------------


async def _get_all(address: str, paths: list[str], connections: int = 4) -> None:
    async def worker(share: list[str]) -> None:
        connection = await Connection.open(address)
        try:
            for path in share:
                answer = await connection.get(path)
                if answer.status != 200:
                    raise RuntimeError(f"{path} answered {answer.status}")
        finally:
            connection.close()

    await asyncio.gather(*(worker(paths[n::connections]) for n in range(connections)))


def key_ring_memory(server: Served, population: Population) -> None:
    """RSS before and after the JWKS of KEY_RING_TENANTS tenants was served once (each load also decrypts the
    tenant's signing key, kept for signing launch tokens), and after a second pass once the ring's entries expired.
    A sample, not every tenant: a first load costs tens of milliseconds on a busy host, and all 10,000 twice took
    most of the bench's hour."""
    tenants = [population.big, *population.small][:KEY_RING_TENANTS]
    paths = [f"/t/{tenant.slug}/.well-known/jwks.json" for tenant in tenants]
    warm = [f"/t/{tenant.slug}/.well-known/jwks.json" for tenant in population.small[-200:]]
    asyncio.run(_get_all(server.address, warm))
    before = rss_mib(server.pid)
    asyncio.run(_get_all(server.address, paths))
    after = rss_mib(server.pid)
    time.sleep(31)  # past the key ring's TTL: every entry is read again
    asyncio.run(_get_all(server.address, paths))
    again = rss_mib(server.pid)
    print(f"\nKey ring: RSS {before:.0f} MiB before serving the JWKS of {len(tenants):,} tenants, {after:.0f} MiB "
          f"after ({1024 * 1024 * (after - before) / len(tenants) / 1024:.1f} KiB per tenant key set, its "
          f"decrypted signing key included), {again:.0f} MiB after all were read again past their TTL")


# Mixed load ------------------------------------------------------------------------------------------------


@dataclass
class Counts:
    done: dict[str, int] = field(default_factory=lambda: defaultdict(int))


# RSS is judged flat when, over the second half of the mixed load, it rises less than this per minute (about
# 2.5 MiB over 10 minutes: what a heap settling in can still move, far below a per-request leak).
FLAT_MIB_PER_MINUTE = 0.25


def mixed_load(server: Served, population: Population, live: list[LiveTenant], lms_url: str, key: RSAKey) -> None:
    """API lists, JWKS, launches and registrations side by side for MINUTES; RSS printed each minute, and its
    slope over the second half (a least-squares line), which says whether it is flat."""
    interval = min(60.0, MINUTES * 60 / 10)
    print(f"\nMixed load for {MINUTES:g} minutes (2 API listers, 2 JWKS readers over the {KEY_RING_TENANTS:,} "
          f"tenants above, 2 launching users, 1 admin registering a new LMS each time), RSS of `broker serve` and "
          "its children:")
    samples: list[tuple[float, float]] = [(0.0, rss_mib(server.pid))]
    counts = Counts()
    asyncio.run(_mixed(server, population, live, lms_url, key, interval, samples, counts))
    first, last = samples[0][1], samples[-1][1]
    peak = max(rss for _, rss in samples)
    slope = rss_slope(samples)
    print(f"  RSS {first:.0f} MiB at the start, {last:.0f} MiB at the end, {peak:.0f} MiB at most "
          f"({last - first:+.0f} MiB); done: " + ", ".join(f"{n:,} {kind}" for kind, n in counts.done.items()))
    verdict = "flat" if slope < FLAT_MIB_PER_MINUTE else "NOT flat"
    print(f"  RSS slope over the second half: {slope:+.2f} MiB a minute: {verdict} "
          f"(flat: under {FLAT_MIB_PER_MINUTE} MiB a minute)")


def rss_slope(samples: list[tuple[float, float]]) -> float:
    """MiB a minute, the least-squares slope of the (seconds, MiB) samples of the run's second half."""
    end = samples[-1][0]
    half = [(seconds / 60, rss) for seconds, rss in samples if seconds >= end / 2]
    if len(half) < 2:
        return 0.0
    mean_t = sum(t for t, _ in half) / len(half)
    mean_rss = sum(rss for _, rss in half) / len(half)
    spread = sum((t - mean_t) ** 2 for t, _ in half)
    return sum((t - mean_t) * (rss - mean_rss) for t, rss in half) / spread if spread else 0.0


async def _mixed(
    server: Served, population: Population, live: list[LiveTenant], lms_url: str, key: RSAKey,
    interval: float, samples: list[tuple[float, float]], counts: Counts,
) -> None:
    deadline = time.monotonic() + MINUTES * 60
    rng = random.Random(11)
    targets = [pair for pairs in list_targets(population, rng).values() for pair in pairs]
    # The tenants whose key sets the key-ring phase loaded: the ring keeps a decrypted signing key an hour (up to
    # 20,000 of them), so key sets of tenants never served before would show the ring filling up to its bound
    # (about 2 MiB a minute at this load), not whether the process leaks.
    tenants = [population.big, *population.small][:KEY_RING_TENANTS]

    async def lister() -> None:
        connection = await Connection.open(server.address)
        try:
            while time.monotonic() < deadline:
                api_key, path = rng.choice(targets)
                await connection.get(path, f"Authorization: Bearer {api_key}\r\n")
                counts.done["API lists"] += 1
        finally:
            connection.close()

    async def jwks_reader() -> None:
        connection = await Connection.open(server.address)
        try:
            while time.monotonic() < deadline:
                await connection.get(f"/t/{rng.choice(tenants).slug}/.well-known/jwks.json")
                counts.done["JWKS"] += 1
                await asyncio.sleep(0.005)
        finally:
            connection.close()

    async def launcher(tenant: LiveTenant) -> None:
        site = deployment.Deployment("", tenant.slug, {"BROKER_BASE_URL": BASE_URL})  # what a user reads of it
        user = User(server.address, site, lms_url, key, tenant.client_id, tenant.deployment_id)
        while time.monotonic() < deadline:
            await user.run(5)
            counts.done["launches"] += 5

    async def admin(tenant: LiveTenant) -> None:
        connection = await Connection.open(server.address, source="127.0.0.9")
        try:
            while time.monotonic() < deadline:
                # A new LMS each time, as a busy broker sees: registering the same one again and again adds a
                # registration of that LMS each time, which the launch directory reads whole (data, not a leak).
                await Admin(connection, tenant.slug, lms_url, new_lms=True).register()
                counts.done["registrations"] += 1
                await asyncio.sleep(0.5)
        finally:
            connection.close()

    async def sampler() -> None:
        started = time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            rss = rss_mib(server.pid)
            samples.append((time.monotonic() - started, rss))
            print(f"  {(time.monotonic() - started) / 60:5.1f} min  RSS {rss:6.0f} MiB  "
                  f"load average {_load_average()}", flush=True)

    await asyncio.gather(
        lister(), lister(), jwks_reader(), jwks_reader(), *(launcher(tenant) for tenant in live),
        admin(live[0]), sampler(),
    )


def _load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
