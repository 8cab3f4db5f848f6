"""The Deep Linking answer of a tenant's tool (/api/v1/deep-linking/response): signed and ready to post back."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from broker.api.operations import NO_STORE, Caller, Operations
from broker.api.params import Body
from broker.representation import Item

operations = Operations()


class DeepLinkingRequest(Body):
    launch_token: str = Field(min_length=1, description="The launch_token your tool received with the launch.")
    content_items: list[dict[str, Any]] = Field(
        description="The content items to return (possibly none); each `url` on the tool URL's origin."
    )


class DeepLinkingResponse(Item, title="DeepLinkingResponse"):
    deep_link_return_url: str
    jwt: str
    html: str = Field(description="An auto-submitting form that posts the JWT to the platform.")


@operations.post(
    "/deep-linking/response",
    "Sign the tool's Deep Linking answer to a launch, with the form that posts it to the platform",
    refusals=(400, 404, 409),
    headers=NO_STORE,
)
async def deep_linking_response(caller: Caller, body: DeepLinkingRequest) -> DeepLinkingResponse:
    # A DeepLinkingRefused is a Refusal, answered as problem details JSON.
    answer = await caller.services.deep_linking.response(caller.tenant, body.launch_token, body.content_items)
    return DeepLinkingResponse(deep_link_return_url=answer.deep_link_return_url, jwt=answer.jwt, html=answer.html)
