"""Launch throughput: full LTI 1.3 launches (login initiation, then the platform's form_post of a signed
id_token) against one uvicorn worker of the broker, 8 users at a time, with the fast loopback platform
(bench/platform.py) serving the platform's JWKS. Prints broker CPU per launch (read from /proc) and launches/s,
the median of 3 rounds. Targets: at most 1.2 ms of broker CPU per launch, at least 500 launches/s, on the scale of
the host they were set on (bench/host_speed.py). SQLite, then PostgreSQL too when
BENCH_DATABASE_URL=postgresql://… names a database it may fill. The same users drive the floor
(bench/launch_floor.py) in the same rounds: a bare Starlette app that redirects the login, checks the id_token's
signature and nonce, signs a launch token and renders the broker's relay page, and nothing else; the broker's
figures are printed as ratios to it.

The tenant's registration is made by one registration flow through the broker. Each simulated user plays the
browser and the platform's authorization endpoint: it posts the login from the LMS's frame (as LMSs show tools,
so the broker redirects at once), reads `state` and `nonce` from the redirect, signs the id_token with the
platform's key and posts it back, holding no cookies. The relay page is read but not posted on (the tool is not
part of the broker's cost). Any answer other than the redirect and the relay page stops the run with what it
was: a figure is never made of refusals. `BENCH_BEFORE=/path/to/another/checkout` measures that checkout's
broker in the same rounds, alternating, on the same database.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc.jwk import RSAKey

from bench import host_speed, launch_floor, platform
from bench.deployment import Deployment, database_urls, deployment
from bench.loadgen import Connection, Server, broker_servers, median, process_cpu_seconds, uvicorn_server
from bench.registration import Admin

LAUNCHES = 1_600
CONCURRENCY = 8
ROUNDS = 3
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
# The login as the LMS's frame loads it: the broker redirects at once (broker/launch/login_origin.py).
FRAMED = "Sec-Fetch-Dest: iframe\r\n"
LAUNCH_TOKEN = re.compile(r'name="launch_token" value="([^"]+)"')


@dataclass(frozen=True)
class Result:
    launches: int
    seconds: float
    server_cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.launches / self.seconds

    @property
    def cpu_ms_per_launch(self) -> float:
        return 1000 * self.server_cpu_seconds / self.launches


def registered(bench: Deployment, broker: Server, lms: Server) -> tuple[str, str]:
    """(client_id, deployment_id) of a registration with the platform, made by a registration flow if needed."""
    items = bench.broker("registrations", "list", "--tenant", bench.slug)["items"]
    if not items:
        async def register() -> None:
            connection = await Connection.open(broker.address)
            try:
                await Admin(connection, bench.slug, lms.url).register()
            finally:
                connection.close()

        asyncio.run(register())
        items = bench.broker("registrations", "list", "--tenant", bench.slug)["items"]
    return items[0]["client_id"], items[0]["deployment_ids"][0]


def users(bench: Deployment, broker: Server, lms: Server, key: RSAKey) -> list[User]:
    client_id, deployment_id = registered(bench, broker, lms)
    return [User(broker.address, bench, lms.url, key, client_id, deployment_id) for _ in range(CONCURRENCY)]


class User:
    """One browser on a keep-alive connection, which also signs as the platform."""

    def __init__(
        self, address: str, bench: Deployment, issuer: str, key: RSAKey, client_id: str, deployment_id: str
    ) -> None:
        self.address = address
        self.slug = bench.slug
        self.launch_url = f"{bench.env['BROKER_BASE_URL']}/t/{bench.slug}/lti/launch"
        self.issuer = issuer
        self.kid = key["kid"]
        if key.private_key is None:
            raise ValueError("the platform signs its id_tokens: its key needs the private half")
        self.private_key = key.private_key
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.pending: list[bytes] = []
        self.login_body = urlencode(
            {
                "iss": issuer,
                "login_hint": "user-1",
                "target_link_uri": self.launch_url,
                "lti_message_hint": "hint",
                "client_id": client_id,
                "lti_deployment_id": deployment_id,
            }
        ).encode()

    async def run(self, launches: int, step: str = "both") -> None:
        """`launches` full launches; or only their logins (`step="login"`, keeping the forms for later), or
        only the form_posts of the logins made before (`step="launch"`)."""
        connection = await Connection.open(self.address)
        try:
            for _ in range(launches):
                if step in ("both", "login"):
                    self.pending.append(await self._login(connection))
                if step in ("both", "launch"):
                    await self._launch(connection, self.pending.pop())
        finally:
            connection.close()

    async def _login(self, connection: Connection) -> bytes:
        answer = await connection.post_form(f"/t/{self.slug}/lti/login", self.login_body, FRAMED)
        if answer.status != 302:
            raise RuntimeError(f"login answered {answer.status}, not its redirect: {answer.body[:300]!r}")
        query = parse_qs(urlsplit(answer.headers["location"]).query)
        return urlencode({"id_token": self._id_token(query["nonce"][0]), "state": query["state"][0]}).encode()

    async def relay_page(self) -> str:
        """The relay page of one whole launch."""
        connection = await Connection.open(self.address)
        try:
            return await self._launch(connection, await self._login(connection))
        finally:
            connection.close()

    async def _launch(self, connection: Connection, form: bytes) -> str:
        answer = await connection.post_form(f"/t/{self.slug}/lti/launch", form)
        if answer.status != 200 or b"launch_token" not in answer.body:
            raise RuntimeError(f"launch answered {answer.status}: {answer.body[:300]!r}")
        return answer.body.decode()

    def _id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            LTI + "message_type": "LtiResourceLinkRequest",
            LTI + "version": "1.3.0",
            LTI + "deployment_id": self.deployment_id,
            LTI + "target_link_uri": self.launch_url,
            LTI + "resource_link": {"id": "resource-1"},
            LTI + "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
        }
        signing_input = _b64_json({"alg": "RS256", "kid": self.kid, "typ": "JWT"}) + "." + _b64_json(claims)
        signature = self.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64(signature)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64_json(value: dict[str, object]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


async def _run(users: list[User], launches: int, step: str) -> None:
    share = launches // len(users)
    await asyncio.gather(*(user.run(share, step) for user in users))


def measure(users: list[User], pid: int, launches: int, step: str = "both") -> Result:
    cpu_before = process_cpu_seconds(pid)
    started = time.perf_counter()
    asyncio.run(_run(users, launches, step))
    return Result(launches, time.perf_counter() - started, process_cpu_seconds(pid) - cpu_before)


# For each server measured: full launches, logins alone and id_token posts alone, a result per round.
Results = dict[str, tuple[list[Result], list[Result], list[Result]]]


def run_engine(bench: Deployment) -> tuple[Results, host_speed.HostSpeed]:
    """The results of each server measured, which take turns in every round, and the host's speed, measured in
    every round."""
    bare_request_ms: list[float] = []
    with tempfile.TemporaryDirectory() as pages, ExitStack() as running:
        lms, key = running.enter_context(platform.running())
        bare_route = running.enter_context(host_speed.bare_route())
        measured = broker_servers(running, bench.env)
        simulated = {name: users(bench, server, lms, key) for name, server in measured.items()}
        measured["floor"] = running.enter_context(floor_server(simulated["broker"][0], lms, key, Path(pages)))
        simulated["floor"] = users(bench, measured["floor"], lms, key)
        results: Results = {}
        for name, server in measured.items():
            measure(simulated[name], server.pid, CONCURRENCY * 25)  # warm-up: caches, keys, connections
            results[name] = ([], [], [])
        host_speed.bare_request_ms(bare_route)  # warm-up
        for _ in range(ROUNDS):
            bare_request_ms.append(host_speed.bare_request_ms(bare_route))
            for name, server in measured.items():
                full, logins, posts = results[name]
                full.append(measure(simulated[name], server.pid, LAUNCHES))
                logins.append(measure(simulated[name], server.pid, LAUNCHES, "login"))
                posts.append(measure(simulated[name], server.pid, LAUNCHES, "launch"))
    return results, host_speed.HostSpeed(bare_request_ms, host_speed.rsa_sign_ms())


def floor_server(user: User, lms: Server, key: RSAKey, pages: Path) -> contextlib.AbstractContextManager[Server]:
    """The floor, serving the relay page of one launch through the broker."""
    relay_page = asyncio.run(user.relay_page())
    match = LAUNCH_TOKEN.search(relay_page)
    if match is None:
        raise RuntimeError("the relay page holds no launch_token field")
    launch_floor.write_template(pages, relay_page, match.group(1))
    env = {
        "BENCH_FLOOR_PAGES": str(pages),
        "BENCH_FLOOR_PLATFORM_KEY": json.dumps(key.as_dict(private=False)),
        "BENCH_FLOOR_AUTHORIZATION_URL": lms.url + platform.AUTHORIZATION_PATH,
    }
    return uvicorn_server("bench.launch_floor:create_app", env, factory=True)


def main() -> None:
    for database_url in database_urls():
        with deployment(database_url) as bench:
            results, speed = run_engine(bench)
        print(f"Launches (login + id_token form_post + relay page), median of {ROUNDS} alternating rounds of "
              f"{LAUNCHES}, {CONCURRENCY} concurrent users, one uvicorn worker, {bench.engine}:")
        figures = {}
        for name, (full, logins, posts) in results.items():
            best = median_result(full)
            login_cpu = median([result.cpu_ms_per_launch for result in logins])
            post_cpu = median([result.cpu_ms_per_launch for result in posts])
            figures[name] = best
            print(f"  {name:<14}{best.per_second:7.0f} launches/s {best.cpu_ms_per_launch:7.3f} ms of its CPU per "
                  f"launch (login {login_cpu:.3f} ms, id_token post and relay {post_cpu:.3f} ms)")
        floor = figures["floor"]
        for name in [name for name in figures if name != "floor"]:
            print(f"  {name} against the floor: {figures[name].cpu_ms_per_launch / floor.cpu_ms_per_launch:.2f}x the "
                  f"CPU per launch, {figures[name].per_second / floor.per_second:.2f}x the launches/s")
        if "broker before" in figures:
            now, before = figures["broker"], figures["broker before"]
            print(f"  broker against before: {now.per_second / before.per_second:.2f}x the launches/s, "
                  f"{now.cpu_ms_per_launch / before.cpu_ms_per_launch:.2f}x the CPU per launch")
        print(f"  {speed.describe()}")
        for name in [name for name in figures if name != "floor"]:
            figure = figures[name]
            print(f"  {name} on the targets' host: {speed.on_reference(figure.cpu_ms_per_launch):.3f} ms of CPU per "
                  f"launch, {figure.per_second / speed.scale:.0f} launches/s")
        print("  targets, on the targets' host: <= 1.2 ms broker CPU per launch, >= 500 launches/s")
        print()


def median_result(results: list[Result]) -> Result:
    return sorted(results, key=lambda result: result.per_second)[len(results) // 2]


if __name__ == "__main__":
    main()
