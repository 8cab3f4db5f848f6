"""Liveness and readiness: `/healthz` answers while the process serves; `/readyz` only when this process can
do its work (the database answers, its schema is one this code runs on, the background loop is alive), else
503 with the reasons, so a load balancer sends requests elsewhere.

A schema newer than this code's is ready: every migration keeps the previous release working, so processes
of the old release keep serving while `broker db upgrade` runs and the new release starts. A schema older
than this code's is not: that process waits for the upgrade.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from broker.services import services

# A pass of the background loop ends within one outbound timeout (10 s at most), and it waits at most a few
# seconds between passes: silence this long means it is stuck.
BACKGROUND_SILENCE = 120.0


@dataclass
class Heartbeat:
    """When the background loop last went round, and whether it stopped."""

    expected: bool = False  # this process runs the background loop
    last_beat: float = field(default_factory=time.monotonic)
    stopped: bool = False

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def stop(self) -> None:
        self.stopped = True


@cache
def known_revisions() -> tuple[frozenset[str], str]:
    """Every migration this code has, and the newest (read once: Alembic is slow to load)."""
    from alembic.script import ScriptDirectory

    from broker.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = scripts.get_current_head()
    assert head is not None
    return frozenset(script.revision for script in scripts.walk_revisions()), head


async def problems(request: Request) -> list[str]:
    """Why this process is not ready; empty when it is."""
    found = services(request)
    heartbeat: Heartbeat = request.app.state.heartbeat
    reasons = []
    try:
        async with found.database.session() as session:
            revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as error:  # any failure to reach or read the database means the same here
        reasons.append(f"the database does not answer ({type(error).__name__})")
    else:
        revisions, head = known_revisions()
        if revision != head and revision in revisions:
            reasons.append(f"the database schema is at {revision}, this code needs {head}: run `broker db upgrade`")
        elif revision is None:
            reasons.append("the database has no schema: run `broker db upgrade`")
    if heartbeat.expected and (heartbeat.stopped or time.monotonic() - heartbeat.last_beat > BACKGROUND_SILENCE):
        reasons.append("the background loop (webhook deliveries, key rotation) is not running")
    return reasons


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    reasons = await problems(request)
    headers = {"Cache-Control": "no-store"}
    if reasons:
        return JSONResponse({"ready": False, "reasons": reasons}, status_code=503, headers=headers)
    return JSONResponse({"ready": True}, headers=headers)
