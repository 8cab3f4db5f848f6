"""The tenant's public keys at /.well-known/jwks.json of its site (tenants/hosts.py), its own (they sign launch
tokens), and those bound to each of its platforms at /keys/{key_set}/jwks.json, from the in-memory key ring.

Platforms fetch this on every launch they sign for us, so it is a raw ASGI endpoint: no Request or Response
object per call, and one prebuilt header list per published key set, reused until the key ring hands out a
new one. On the base host it is also answered ahead of Starlette's exception middleware and router
(`KeySetShortcut`), which cost a request about as much as the endpoint itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.convertors import StringConvertor
from starlette.requests import HTTPConnection
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from broker.metrics import CACHE_LOOKUPS, series_inc
from broker.refusals import Refusal, problem_response
from tenants.hosts import JWKS_PATH
from tenants.keys import TenantKeys
from tenants.platform_bound_keys import platform_jwks_path

# Platforms cache the key set; five minutes keeps a rotation's new key visible well within its grace period.
# Key rotation waits this long (plus the key ring's TTL) between publishing a key and signing with it.
JWKS_MAX_AGE = 300
CACHE_CONTROL = f"public, max-age={JWKS_MAX_AGE}"
# A hit: the key ring handed back the key set it held (and this endpoint its headers); a miss: it read the keys
# again from the database.
_HITS, _MISSES = CACHE_LOOKUPS.labels("jwks", "hit"), CACHE_LOOKUPS.labels("jwks", "miss")
_HIT = series_inc(_HITS)

_NOT_FOUND = Refusal("Check the tenant's slug.", status_code=404, title="No such key set")

Headers = list[tuple[bytes, bytes]]


class JWKSEndpoint:
    def __init__(self) -> None:
        self._headers: dict[tuple[str, str | None], tuple[TenantKeys, Headers]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = (scope["path_params"]["slug"], scope["path_params"].get("key_set"))
        ring = scope["app"].state.key_ring
        keys = ring.cached(*name) or await ring.get(*name)  # a hit makes no coroutine
        if keys is None:
            await problem_response(_NOT_FOUND, HTTPConnection(scope))(scope, receive, send)
            return
        cached = self._headers.get(name)
        if cached is not None and cached[0] is keys:
            _HIT(1)
            headers = cached[1]
        else:
            _MISSES.inc()
            headers = self._remember(name, keys)
        # Fresh messages around the shared headers: middleware may replace a message's headers, never edit them.
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": keys.jwks})

    def _remember(self, name: tuple[str, str | None], keys: TenantKeys) -> Headers:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(keys.jwks)).encode()),
            (b"cache-control", CACHE_CONTROL.encode()),
            (b"access-control-allow-origin", b"*"),
        ]
        self._headers[name] = (keys, headers)
        return headers


# A tenant's public routes: under /t/{slug} on the base host, at the root of the tenant's own host.
_ENDPOINT = JWKSEndpoint()
routes = [
    Route(JWKS_PATH, _ENDPOINT, methods=["GET"]),
    Route(platform_jwks_path("{key_set}"), _ENDPOINT, methods=["GET"]),
]


class KeySetShortcut:
    """A middleware answering the base host's key set paths (`routes`: the key set routes as the base host serves
    them) with the endpoint they lead to, as the router would, without the exception middleware and the router's
    walk through every route. Everything else goes on to the app, tenant hosts' key sets too (`on_base_host`
    tells, as host routing decides: `HostRouting.on_base_host`).

    A path is matched against each route's own pattern, and its parameters (plain strings: no convertor) set in
    the scope as the route would set them; another method goes the router's way, to its 405, and so does a
    request under a root path (the route would match the path without it)."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[Route], on_base_host: Callable[[Scope], bool]) -> None:
        self.app = app
        self.routes = routes
        self.on_base_host = on_base_host
        for route in routes:
            if any(not isinstance(convertor, StringConvertor) for convertor in route.param_convertors.values()):
                raise ValueError(f"{route.path}: a key set route's parameters are plain strings")
        self._patterns = [
            (route.path_regex.match, route.app, route.endpoint, route.methods or ()) for route in routes
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.endswith(".json") and not scope.get("root_path"):
            for match, app, endpoint, methods in self._patterns:
                found = match(path)
                if found is not None:
                    if scope["method"] not in methods or not self.on_base_host(scope):
                        break  # the router's way: another method (405), or a tenant host
                    scope["path_params"] = {**scope.get("path_params", {}), **found.groupdict()}
                    scope["endpoint"] = endpoint
                    await app(scope, receive, send)
                    return
        await self.app(scope, receive, send)
