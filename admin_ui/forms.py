"""Reading console forms: text fields as submitted (missing ones empty), and where to go after signing in."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

MAX_FIELD_LENGTH = 100_000


async def form_values(request: Request, *names: str) -> dict[str, str]:
    """The named fields of the posted form, as text; a file or a missing field reads as empty."""
    form = await request.form()
    values = {}
    for name in names:
        value = form.get(name)
        values[name] = value[:MAX_FIELD_LENGTH] if isinstance(value, str) else ""
    return values


def local_path(target: str, default: str) -> str:
    """`target` if it is a path on this site (a full URL is reduced to its path); otherwise `default`.
    So a crafted `next` cannot send a person who just signed in to another site."""
    parts = urlsplit(target or "")
    path = parts.path
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    return path + (f"?{parts.query}" if parts.query else "")


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None
