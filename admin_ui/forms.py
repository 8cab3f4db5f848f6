"""Reading console forms: text fields as submitted (missing ones empty), text read as lines or name-value pairs,
and where to go after signing in."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.requests import Request

from broker.refusals import Refusal

MAX_FIELD_LENGTH = 100_000


class NulInField(Refusal):
    status_code = 400
    title = "A field holds a character no text can"
    next_step = "Go back, retype the field (a NUL character can come with pasted text), and send the form again."


async def form_values(request: Request, *names: str) -> dict[str, str]:
    """The named fields of the posted form, as text; a file or a missing field reads as empty.

    A NUL character is refused by field: PostgreSQL holds none in text (a query with one fails), where SQLite
    would store it, so every form answers alike on both engines."""
    form = await request.form()
    values = {}
    for name in names:
        value = form.get(name)
        values[name] = value[:MAX_FIELD_LENGTH] if isinstance(value, str) else ""
        if "\x00" in values[name]:
            raise NulInField(f"The field {name!r} contains a NUL character.", field=name)
    return values


def lines(text: str) -> list[str]:
    """The non-blank lines of a text area, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def pairs(values: Mapping[str, str], field: str, separator: str, errors: dict[str, str]) -> dict[str, str]:
    """The `name<separator>value` lines of `values[field]` as a mapping; a line without the separator sets
    `errors[field]` and reads as nothing."""
    found = {}
    for line in lines(values[field]):
        key, has_separator, value = line.partition(separator)
        if not has_separator:
            errors[field] = f"write one per line as name{separator}value; {line!r} has no {separator!r}"
            return {}
        found[key.strip()] = value.strip()
    return found


def pair_lines(found: Mapping[str, str], separator: str) -> str:
    """A mapping as `pairs` reads it back: one `name<separator>value` line each."""
    return "\n".join(f"{key}{separator}{value}" for key, value in found.items())


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
