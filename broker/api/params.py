"""Reading API request input (query parameters, JSON bodies) into typed values, or a 422 problem naming the
field; and the types of the query parameters the list operations share."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from broker.api.pagination import DEFAULT_LIMIT, ID_PATTERN, MAX_LIMIT, decode_cursor, decode_position
from broker.api.problems import InvalidInput

QueryModel = TypeVar("QueryModel", bound=BaseModel)

# Shown in each 422 problem: how many of the input's errors the detail lists.
_ERRORS_SHOWN = 5


class Query(BaseModel):
    """Query parameters: strings read leniently into their types; names the operation does not know are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Body(BaseModel):
    """A JSON body, read strictly: a string where a list belongs is refused, not converted."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


def _rule(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A reader of one value as a pydantic validator: its ValueError becomes the field's error message."""

    def validator(value: Any) -> Any:
        try:
            return read(value)
        except ValueError as error:
            raise PydanticCustomError("invalid_value", str(error)) from None

    return validator


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as error:  # at the very edge of the calendar, a zone can move a time past it
        raise ValueError("the time is out of range") from error


Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description=f"Items per page, 1 to {MAX_LIMIT}.")]
Cursor = Annotated[
    str | None,
    AfterValidator(_rule(decode_cursor)),
    Field(description="The `next` value of the previous page, passed back unchanged."),
]
# The feed's cursor names a position; it is an opaque string to the caller.
FeedPosition = Annotated[
    int,
    BeforeValidator(_rule(decode_position)),
    WithJsonSchema({"type": "string"}),
    Field(description="The `next` value of the previous call; omit it to start at the first event."),
]
Since = Annotated[AwareDatetime, AfterValidator(_rule(_in_utc))]
# Free text compared with stored values; NUL is refused because PostgreSQL cannot hold it in text.
Text = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00]*$")]
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class Paging(Query):
    cursor: Cursor = None
    limit: Limit = DEFAULT_LIMIT


def read_query(model: type[QueryModel], parameters: Mapping[str, str]) -> QueryModel:
    try:
        return model.model_validate(dict(parameters))
    except ValidationError as error:
        raise _invalid("Invalid query parameter", error) from None


def read_body(shape: Any, body: bytes) -> Any:
    """The body read as `shape` (a `Body` model, or a TypedDict where a key left out differs from a null)."""
    try:
        # pydantic's parser refuses nesting past its depth limit as invalid JSON; no body can exhaust the stack.
        value = _reader(shape).validate_json(body or b"{}")
    except ValidationError as error:
        raise _invalid("Invalid request body", error) from None
    refused = _refused_value(value)
    if refused is not None:
        field, reason = refused
        raise InvalidInput(f"{field}: {reason}", title="Invalid request body", field=field)
    return value


def _refused_value(value: Any) -> tuple[str, str] | None:
    """The first field, at any depth, holding what the broker cannot keep or pass on, and why; or None.

    pydantic's parser reads NaN, Infinity and numbers past a float's range (1e999) into floats that no JSON can
    hold: in a free-form field (a content item) they would reach a signed answer as something no platform reads.
    PostgreSQL holds no NUL in text, where SQLite does: refused alike on both, whichever field it is in.
    """
    pending: list[tuple[tuple[int | str, ...], Any]] = [((), value)]
    while pending:
        location, item = pending.pop()
        if isinstance(item, BaseModel):
            item = dict(item)
        if isinstance(item, str) and "\x00" in item:
            return _field_name(location) or "(body)", "contains a NUL character"
        if isinstance(item, float) and not math.isfinite(item):
            return _field_name(location) or "(body)", "NaN and Infinity (or a number out of range) are not JSON"
        if isinstance(item, Mapping):
            pending.extend(((*location, str(key)), child) for key, child in item.items())
            pending.extend(((*location, str(key)), key) for key in item)
        elif isinstance(item, list | tuple):
            pending.extend(((*location, index), child) for index, child in enumerate(item))
    return None


@cache
def _reader(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


def _invalid(title: str, error: ValidationError) -> InvalidInput:
    problems = error.errors(include_url=False, include_input=False)
    named = [(_field_name(problem["loc"]), problem["msg"]) for problem in problems]
    detail = "; ".join(f"{name}: {message}" if name else message for name, message in named[:_ERRORS_SHOWN])
    if len(named) > _ERRORS_SHOWN:
        detail += f"; and {len(named) - _ERRORS_SHOWN} more"
    return InvalidInput(detail, title=title, field=named[0][0] or None)


def _field_name(location: tuple[int | str, ...]) -> str:
    """`("content_items", 0, "url")` → `content_items[0].url`."""
    name = ""
    for part in location:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name
