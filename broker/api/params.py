"""Reading API request input (query parameters, JSON bodies) into values, or a 400 problem naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from broker.api.problems import ApiProblem


def choice(request: Request, name: str, allowed: Iterable[str]) -> str | None:
    value = request.query_params.get(name)
    options = tuple(allowed)
    if value is not None and value not in options:
        raise ApiProblem(400, f"Bad {name}", f"`{name}` must be one of: {', '.join(options)}.")
    return value


def timestamp(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ApiProblem(
            400, f"Bad {name}", f"`{name}` must be an ISO-8601 time with a zone, such as 2026-01-31T12:00:00Z."
        )
    return parsed.astimezone(UTC)


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body."""
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiProblem(400, "Bad request body", "Send a JSON object with Content-Type: application/json.")
    return body


def not_found(what: str) -> ApiProblem:
    return ApiProblem(404, "Not found", f"No {what} with this id belongs to your tenant.")
