"""The API's refusals, each a `Refusal` answered as problem details JSON (RFC 9457)."""

from __future__ import annotations

from pydantic import Field

from broker.refusals import Refusal
from broker.representation import Item, shown_once

# Where every answer to a refusal of the API points the caller.
SEE_THE_DOCUMENT = "See the operation in the OpenAPI document at /api/v1/openapi.json."


class InvalidInput(Refusal):
    """A query parameter or a body the operation cannot read; `field` names the first one at fault."""

    status_code = 422
    title = "Invalid input"
    next_step = f"Correct it and send the request again. {SEE_THE_DOCUMENT}"


class NotFound(Refusal):
    status_code = 404
    title = "Not found"
    next_step = "Use an id that the API gave your tenant."

    def __init__(self, resource: str) -> None:
        super().__init__(f"No {resource} with this id belongs to your tenant.")


class Conflict(Refusal):
    """A change that does not apply to the item as it stands."""

    status_code = 409
    title = "Conflict"
    next_step = "Read the item again: the detail says what applies to it as it stands."


class Unauthorized(Refusal):
    status_code = 401
    title = "Unauthorized"
    next_step = "Send your API key as 'Authorization: Bearer <key>'; `broker api-keys create` makes one."

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="lti-broker"'})


class TenantSuspended(Refusal):
    status_code = 403
    title = "Tenant suspended"
    next_step = "Contact the broker's operator to have the tenant resumed."


class TooManyRequests(Refusal):
    status_code = 429
    title = "Too many requests"
    next_step = "Retry after the seconds in the Retry-After header."


class Problem(Item, title="Problem"):
    """The body of every refusal (the OpenAPI document's description of it)."""

    type: str = Field(description="Always about:blank: the status says what kind of refusal it is.")
    title: str
    status: int
    detail: str = Field(description="What was wrong.")
    field: str | None = shown_once("The field at fault, when one is: `scopes[0]`, `cursor`, `name`.")
    next_step: str | None = shown_once("What to do about it.")
    reference: str | None = shown_once("What support can find the records by.")
    request_id: str | None = shown_once(
        "The request's id, also in the X-Request-Id header and on each of the request's log lines."
    )
