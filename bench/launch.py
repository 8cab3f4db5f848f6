"""Launch throughput: full LTI 1.3 launches (login initiation, then the platform's form_post of a signed
id_token) against one uvicorn worker of the broker, 8 users at a time, with a loopback platform emulator
serving the platform's JWKS. Prints broker CPU per launch (read from /proc) and launches/s.
Targets: under 2 ms of broker CPU per launch, at least 420 launches/s. SQLite by default; set
BENCH_DATABASE_URL=postgresql://… (an empty database it may fill) to measure PostgreSQL.

Each simulated user plays the browser and the platform's authorization endpoint: it posts the login, reads
`state` and `nonce` from the redirect, signs the id_token with the emulator's key and posts it back. The
relay page is read but not posted on (the tool is not part of the broker's cost).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from bench.loadgen import process_cpu_seconds, uvicorn_server
from broker.app import Services
from broker.migrate import upgrade
from broker.registration.models import Deployment, Registration
from broker.settings import Settings
from tests.emulators import GenericEmulator

LAUNCHES = 2_000
CONCURRENCY = 8
ROUNDS = 3
SECRET_KEY = "bench-secret-key-" + "b" * 40
BASE_URL = "http://broker.bench"
SLUG = "bench"
CLIENT_ID = "bench-client"
DEPLOYMENT_ID = "bench-deployment"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"


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


async def _seed(settings: Settings, platform: GenericEmulator) -> None:
    services = Services.create(settings)
    try:
        await services.tenants.create(SLUG, "Bench Tool", tool_url="https://tool.bench/launch")
        tenant = await services.tenants.get_by_slug(SLUG)
        assert tenant is not None
        document = platform.openid_configuration()
        async with services.database.transaction() as session:
            registration = Registration(
                tenant_id=tenant.id,
                issuer=platform.issuer,
                client_id=CLIENT_ID,
                status="active",
                authorization_endpoint=document["authorization_endpoint"],
                token_endpoint=document["token_endpoint"],
                jwks_uri=document["jwks_uri"],
                registration_endpoint=document["registration_endpoint"],
                deployments=[Deployment(deployment_id=DEPLOYMENT_ID, source="registration")],
            )
            session.add(registration)
    finally:
        await services.close()


class User:
    """One browser on a keep-alive connection, which also signs as the platform."""

    def __init__(self, address: str, platform: GenericEmulator) -> None:
        self.address = address
        self.issuer = platform.issuer
        self.kid = platform.platform_key["kid"]
        self.private_key = platform.platform_key.get_op_key("sign")
        self.pending: list[bytes] = []
        self.login_body = urlencode(
            {
                "iss": platform.issuer,
                "login_hint": "user-1",
                "target_link_uri": f"{BASE_URL}/t/{SLUG}/lti/launch",
                "lti_message_hint": "hint",
                "client_id": CLIENT_ID,
                "lti_deployment_id": DEPLOYMENT_ID,
            }
        ).encode()

    async def run(self, launches: int, step: str = "both") -> None:
        """`launches` full launches; or only their logins (`step="login"`, keeping the forms for later), or
        only the form_posts of the logins made before (`step="launch"`)."""
        host, port = self.address.split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for _ in range(launches):
                if step in ("both", "login"):
                    self.pending.append(await self._login(reader, writer))
                if step in ("both", "launch"):
                    await self._launch(reader, writer, self.pending.pop())
        finally:
            writer.close()

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        writer.write(self._post(f"/t/{SLUG}/lti/login", self.login_body))
        status, headers, _ = await _response(reader)
        if status != 302:
            raise RuntimeError(f"login answered {status}")
        query = parse_qs(urlsplit(headers["location"]).query)
        return urlencode({"id_token": self._id_token(query["nonce"][0]), "state": query["state"][0]}).encode()

    async def _launch(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, form: bytes) -> None:
        writer.write(self._post(f"/t/{SLUG}/lti/launch", form))
        status, _, page = await _response(reader)
        if status != 200 or b"launch_token" not in page:
            raise RuntimeError(f"launch answered {status}: {page[:300]!r}")

    def _post(self, path: str, body: bytes) -> bytes:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.address}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def _id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            LTI + "message_type": "LtiResourceLinkRequest",
            LTI + "version": "1.3.0",
            LTI + "deployment_id": DEPLOYMENT_ID,
            LTI + "target_link_uri": f"{BASE_URL}/t/{SLUG}/lti/launch",
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


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


async def _run(users: list[User], launches: int, step: str) -> None:
    share = launches // len(users)
    await asyncio.gather(*(user.run(share, step) for user in users))


def _measure(users: list[User], pid: int, launches: int, step: str = "both") -> Result:
    cpu_before = process_cpu_seconds(pid)
    started = time.perf_counter()
    asyncio.run(_run(users, launches, step))
    return Result(launches, time.perf_counter() - started, process_cpu_seconds(pid) - cpu_before)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, GenericEmulator.running() as platform:
        database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(database_url)
        settings = Settings(database_url=database_url, base_url=BASE_URL, secret_key=SECRET_KEY)
        asyncio.run(_seed(settings, platform))
        env = {
            "BROKER_DATABASE_URL": database_url,
            "BROKER_SECRET_KEY": SECRET_KEY,
            "BROKER_BASE_URL": BASE_URL,
            "BROKER_ALLOW_INSECURE_PLATFORMS": "1",
            "BROKER_RUN_WORKER": "0",
        }
        with uvicorn_server("broker.app:create_app", env, factory=True) as (address, pid):
            users = [User(address, platform) for _ in range(CONCURRENCY)]
            _measure(users, pid, CONCURRENCY * 25)  # warm-up: caches, keys, connections
            results = [_measure(users, pid, LAUNCHES) for _ in range(ROUNDS)]
            logins = _measure(users, pid, LAUNCHES, "login")
            posts = _measure(users, pid, LAUNCHES, "launch")
        jwks_path = urlsplit(platform.openid_configuration()["jwks_uri"]).path
        jwks_fetches = len([request for request in platform.requests if request.path == jwks_path])
    best = max(results, key=lambda result: result.per_second)
    engine = database_url.split(":", 1)[0]
    print(f"Launches (login + id_token form_post + relay page), best of {ROUNDS} rounds of {LAUNCHES}, "
          f"{CONCURRENCY} concurrent users, one uvicorn worker, {engine}:")
    print(f"  {best.per_second:7.0f} launches/s (target >= 420)")
    print(f"  {best.cpu_ms_per_launch:7.3f} ms broker CPU per launch (target < 2 ms): "
          f"login {logins.cpu_ms_per_launch:.3f} ms, id_token post and relay {posts.cpu_ms_per_launch:.3f} ms")
    print(f"  platform JWKS fetched {jwks_fetches} time(s) in {(ROUNDS + 1) * LAUNCHES + CONCURRENCY * 25} launches")


if __name__ == "__main__":
    main()
