"""The Deep Linking answer of a tenant's tool (/api/v1/deep-linking/response): signed and ready to post back."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broker.api.auth import authenticated_tenant
from broker.api.params import json_object
from broker.services import services


async def deep_linking_response(request: Request) -> Response:
    tenant = await authenticated_tenant(request)
    body = await json_object(request)
    # A DeepLinkingRefused is a Refusal, answered as problem details JSON.
    answer = await services(request).deep_linking.response(tenant, body.get("launch_token"), body.get("content_items"))
    return JSONResponse(
        {"deep_link_return_url": answer.deep_link_return_url, "jwt": answer.jwt, "html": answer.html},
        headers={"Cache-Control": "no-store"},
    )


routes = [Route("/api/v1/deep-linking/response", deep_linking_response, methods=["POST"])]
