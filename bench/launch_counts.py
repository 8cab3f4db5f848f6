"""What one LTI 1.3 launch costs the broker in-process, on SQLite, counted rather than timed: the Python function
calls (cProfile) and the SQL statements (sqlite3's trace of every connection; BEGIN, COMMIT and ROLLBACK counted
apart) of a login and of an id_token post with its relay page, over LAUNCHES launches after WARM_UP, with no
server: the app is called as ASGI with the requests a launch makes (the login posted from the LMS's frame, so the
broker redirects at once; the id_token posted back with no cookies), the platform's key set served by the fast
loopback platform of bench/platform.py. Only the app's own calls are profiled and timed (not this harness's
signing of the id_token as the platform, nor its reading of the redirect). Also printed: the process's CPU per
launch spent in the app's calls (best of ROUNDS rounds, with no trace callback installed: it would inflate it),
which moves with the machine's load where the counts do not.

The tenant's registration is made by one registration flow through the app. With BENCH_BEFORE, that checkout
counts the same in a process of its own, on a database of its own; `BENCH_PROFILE_TOP=N` writes each step's N
costliest functions and the statements a launch makes to bench/profiles/launch_counts-<checkout folder>.txt, and
`BENCH_PROFILE_DUMP=PREFIX` each step's cProfile data to PREFIX-login.prof and PREFIX-post.prof (for pstats).
"""

from __future__ import annotations

import base64
import cProfile
import json
import os
import pstats
import runpy
import secrets
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

LAUNCHES = 200
WARM_UP = 50
ROUNDS = 3
PROCESSES = 2
STEPS = ("login", "post")
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
_PLATFORM_KEY = "BENCH_LAUNCH_PLATFORM_KEY"


async def measure(_best_cpu: Callable[..., Coroutine[Any, Any, float]], platform_url: str) -> dict[str, float]:
    """This process's figures, for the checkout its `broker` package comes from (the CPU is timed around the app's
    calls alone, so `_best_cpu` is not used)."""
    # bench/ is no package on this process's path (see bench/inprocess.py): the harness's form reader by its file.
    post_forms = runpy.run_path(str(Path(__file__).with_name("loadgen.py")))["post_forms"]
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from joserfc.jwk import RSAKey

    # The platform's private key comes by the environment, out of the process list.
    platform_key = RSAKey.import_key(json.loads(os.environ[_PLATFORM_KEY]))
    private_key = platform_key.private_key
    if private_key is None:
        raise ValueError("the platform signs its id_tokens: its key needs the private half")
    shared = runpy.run_path(str(Path(__file__).with_name("asgi_client.py")))
    tracer = shared["StatementTrace"](STEPS)
    tracer.install()
    bench, _ = shared["broker_with_tenant"]()
    slug = bench.slug

    from broker.app import create_app

    client = shared["AsgiClient"](create_app())
    call = client.call
    launch_url = f"{shared['BASE_URL']}/t/{slug}/lti/launch"

    async def register() -> tuple[str, str]:
        path = f"/t/{slug}/lti/register"
        configuration_url = platform_url + "/.well-known/openid-configuration"
        query = urlencode({"openid_configuration": configuration_url, "registration_token": secrets.token_hex(16)})
        review = await call("GET", path, query)
        done = await call("POST", path, body=urlencode(post_forms(review.page, path)[0].fields).encode())
        if done.status != 200:
            raise RuntimeError(f"the registration answered {done.status}: {done.page[:400]!r}")
        item = bench.broker("registrations", "list", "--tenant", slug)["items"][0]
        return item["client_id"], item["deployment_ids"][0]

    header = _b64_json({"alg": "RS256", "kid": platform_key.kid, "typ": "JWT"})

    def id_token(nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": platform_url, "aud": client_id, "sub": "user-1", "iat": now, "exp": now + 300, "nonce": nonce,
            LTI + "message_type": "LtiResourceLinkRequest", LTI + "version": "1.3.0",
            LTI + "deployment_id": deployment_id, LTI + "target_link_uri": launch_url,
            LTI + "resource_link": {"id": "resource-1"},
            LTI + "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
        }  # fmt: skip
        signing_input = header + "." + _b64_json(claims)
        signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64(signature)

    profiles = {step: cProfile.Profile() for step in STEPS}
    profiling = [False]

    async def step(name: str, path: str, body: bytes, extra: list[tuple[bytes, bytes]]) -> Any:
        profile = profiles[name]
        if profiling[0]:
            tracer.step = name
            profile.enable()
        try:
            return await call("POST", path, body=body, extra=extra)
        finally:
            profile.disable()
            tracer.step = None

    async def launch() -> None:
        login = await step("login", f"/t/{slug}/lti/login", login_body, [(b"sec-fetch-dest", b"iframe")])
        if login.status != 302:
            raise RuntimeError(f"login answered {login.status}, not its redirect: {login.page[:400]!r}")
        query = parse_qs(urlsplit(login.header(b"location")).query)
        form = urlencode({"id_token": id_token(query["nonce"][0]), "state": query["state"][0]}).encode()
        relay = await step("post", f"/t/{slug}/lti/launch", form, [])
        if relay.status != 200 or b"launch_token" not in relay.page:
            raise RuntimeError(f"launch answered {relay.status}: {relay.page[:400]!r}")

    async with client.app.router.lifespan_context(client.app):
        client_id, deployment_id = await register()
        login_body = urlencode({
            "iss": platform_url, "login_hint": "user-1", "target_link_uri": launch_url, "lti_message_hint": "hint",
            "client_id": client_id, "lti_deployment_id": deployment_id,
        }).encode()  # fmt: skip
        for _ in range(WARM_UP):
            await launch()
        profiling[0] = True
        for _ in range(LAUNCHES):
            await launch()
        profiling[0] = False
        tracer.remove()
        cpu = float("inf")
        for _ in range(ROUNDS):
            client.spent = 0.0
            for _ in range(LAUNCHES):
                await launch()
            cpu = min(cpu, client.spent / LAUNCHES * 1e6)
    return _figures(cpu, profiles, tracer, shared)


def _figures(
    cpu: float, profiles: dict[str, cProfile.Profile], tracer: Any, shared: dict[str, Any]
) -> dict[str, float]:
    figures = {"cpu": cpu}
    top = int(os.environ.get("BENCH_PROFILE_TOP", "0"))
    report = []
    for step, profile in profiles.items():
        stats = pstats.Stats(profile)
        figures[f"calls {step}"] = stats.total_calls / LAUNCHES  # type: ignore[attr-defined]
        if os.environ.get("BENCH_PROFILE_DUMP"):
            profile.dump_stats(f"{os.environ['BENCH_PROFILE_DUMP']}-{step}.prof")
        statements = tracer.statements[step]
        figures[f"statements {step}"], figures[f"transactions {step}"] = shared["statement_counts"](
            statements, LAUNCHES
        )
        if top:
            report.append(shared["functions_section"](step, stats, top))
            report.append(shared["statements_section"](f"statements a {step}", statements, LAUNCHES))
    if top:
        shared["write_report"]("launch_counts", report, sys.modules["broker"].__file__ or "")
    return figures


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64_json(value: dict[str, object]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def main() -> None:
    from bench import platform
    from bench.inprocess import best_of_processes

    started = time.perf_counter()
    with platform.running() as (lms, key):
        os.environ[_PLATFORM_KEY] = json.dumps(key.as_dict(private=True))
        best = best_of_processes(__file__, PROCESSES, lms.url)
    print(f"launch in-process on SQLite, counted over {LAUNCHES} launches after {WARM_UP} (best of {PROCESSES} "
          f"processes; {time.perf_counter() - started:.0f} s):")
    for name, figures in best.items():
        calls = figures["calls login"] + figures["calls post"]
        print(
            f"  {name}: {calls:,.0f} Python calls a launch (login {figures['calls login']:,.0f}, id_token post and "
            f"relay {figures['calls post']:,.0f}), statements {figures['statements login']:.0f} + "
            f"{figures['statements post']:.0f} in {figures['transactions login']:.0f} + "
            f"{figures['transactions post']:.0f} transactions; {figures['cpu']:,.0f} µs of CPU a launch "
            f"(best of {ROUNDS})"
        )
