"""What every item shown by the API, the CLI and webhooks has in common: typed models, times in UTC with a `Z`,
and stored documents shown only while they are shallow enough to read.

The models are the one description of each item: the API answers with them, the OpenAPI document's schemas
are generated from them, and the CLI and webhook bodies are their plain JSON values (`Item.plain()`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Deeper than this, a stored document is replaced by `TOO_DEEP` when shown: no real platform document comes
# near it, and rendering arbitrarily deep nesting costs stack that a request must not spend.
MAX_SHOWN_DEPTH = 64
TOO_DEEP = {"not_shown": f"The document is nested more than {MAX_SHOWN_DEPTH} levels deep, so it is not shown."}


def _in_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _shallow(document: Any) -> Any:
    return document if json_depth(document) <= MAX_SHOWN_DEPTH else TOO_DEEP


Timestamp = Annotated[datetime, AfterValidator(_in_utc)]
"""A time in UTC, written as ISO-8601 with a `Z` (2026-01-31T12:00:00Z)."""

Document = Annotated[dict[str, Any], AfterValidator(_shallow)]
"""A JSON object stored as a platform sent it (or as we sent it), shown as it is unless absurdly deep."""


class Item(BaseModel):
    """An item as we show it. Built from our own rows, so every field is always present (null when unknown)."""

    model_config = ConfigDict(frozen=True)

    def plain(self) -> dict[str, Any]:
        """The item as plain JSON values, as the CLI prints it and webhooks send it."""
        return self.model_dump(mode="json")


def json_depth(document: Any) -> int:
    """How deeply a JSON value nests (a scalar is 0, `{}` and `[1]` are 1), counted without recursion, so any
    depth can be measured: one level of containers at a time, scalars never kept (a page of attempts measures
    two documents an item, so this runs over every value shown)."""
    depth = 0
    level = [document] if isinstance(document, dict | list) else []
    while level:
        depth += 1
        deeper: list[Any] = []
        for container in level:
            for value in container.values() if isinstance(container, dict) else container:
                if isinstance(value, dict | list):
                    deeper.append(value)
        level = deeper
    return depth


def shown_once(description: str) -> Any:
    """A field present only in the answer that made its value (a new key or secret), absent everywhere else."""
    return Field(default=None, exclude_if=lambda value: value is None, description=description)
