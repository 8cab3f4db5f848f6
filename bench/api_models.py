"""API models on the hot paths: pydantic v2 against msgspec, with today's dicts and `json` as the baseline.

Serialising a page of 100 registrations from ORM rows to JSON bytes, and reading request bodies (a token
request, a tenant PATCH with a tool configuration, a Deep Linking answer) from bytes to typed values. The same
item shape is declared in both libraries here, so that the figures compare the libraries and nothing else.
"""

from __future__ import annotations

import functools
import json
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pydantic

from broker.registration.models import Deployment, Registration

PAGE = 100
ROUNDS = 15
DEPTH = 1500


def _rows() -> list[Registration]:
    start = datetime(2026, 1, 31, 12, tzinfo=UTC)
    return [
        Registration(
            id=f"reg_{number:026d}",
            issuer="https://lms.example.edu",
            client_id=f"client-{number}",
            status="active",
            product_family_code="moodle",
            platform_profile="moodle",
            adaptations=["scopes narrowed by the LMS admin"],
            platform_version="4.5",
            authorization_endpoint="https://lms.example.edu/mod/lti/auth.php",
            token_endpoint="https://lms.example.edu/mod/lti/token.php",  # noqa: S106
            jwks_uri="https://lms.example.edu/mod/lti/certs.php",
            registration_endpoint="https://lms.example.edu/mod/lti/openid-registration.php",
            scopes_requested=["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem", "openid"],
            scopes_granted=["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"],
            created_at=start + timedelta(minutes=number),
            updated_at=start + timedelta(minutes=number, seconds=5),
            deployments=[Deployment(deployment_id=f"dep-{number}", source="registration")],
        )
        for number in range(PAGE)
    ]


def _fields(row: Registration) -> dict[str, Any]:
    granted = list(row.scopes_granted)
    missing = [scope for scope in row.scopes_requested if scope not in granted]
    return {
        "id": row.id,
        "issuer": row.issuer,
        "client_id": row.client_id,
        "deployment_ids": [deployment.deployment_id for deployment in row.deployments],
        "jwks_uri": row.jwks_uri,
        "token_endpoint": row.token_endpoint,
        "authorization_endpoint": row.authorization_endpoint,
        "authorization_server": row.authorization_server,
        "registration_endpoint": row.registration_endpoint,
        "product_family_code": row.product_family_code,
        "platform_version": row.platform_version,
        "status": row.status,
        "scopes_requested": list(row.scopes_requested),
        "scopes_granted": granted,
        "scopes_missing": missing,
        "scopes_narrowed": bool(missing),
        "platform_profile": row.platform_profile,
        "adaptations": list(row.adaptations or []),
        "verified_at": row.verified_at,
        "launched_at": row.launched_at,
        "scope_drift": row.scope_drift,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _json_time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


# ------------------------------------------------------------------------------------------- the two libraries
# The registration item's fields, declared once and built in each library from this table.
ITEM_FIELDS: dict[str, Any] = {
    "id": str,
    "issuer": str,
    "client_id": str,
    "deployment_ids": list[str],
    "jwks_uri": str,
    "token_endpoint": str | None,
    "authorization_endpoint": str | None,
    "authorization_server": str | None,
    "registration_endpoint": str,
    "product_family_code": str | None,
    "platform_version": str | None,
    "status": str,
    "scopes_requested": list[str],
    "scopes_granted": list[str],
    "scopes_missing": list[str],
    "scopes_narrowed": bool,
    "platform_profile": str | None,
    "adaptations": list[str],
    "verified_at": datetime | None,
    "launched_at": datetime | None,
    "scope_drift": dict[str, Any] | None,
    "created_at": datetime,
    "updated_at": datetime,
}
_REQUIRED: dict[str, Any] = {name: (kind, ...) for name, kind in ITEM_FIELDS.items()}
PydanticItem = pydantic.create_model("PydanticItem", **_REQUIRED)
MsgspecItem = msgspec.defstruct("MsgspecItem", list(ITEM_FIELDS.items()))


class PydanticPage(pydantic.BaseModel):
    items: list[PydanticItem]
    next: str | None


class MsgspecPage(msgspec.Struct):
    # msgspec encodes each item by its own class; MsgspecItem, made by a call, cannot stand in an annotation.
    items: list[msgspec.Struct]
    next: str | None


class PydanticToken(pydantic.BaseModel, extra="forbid"):
    scopes: list[str]


class PydanticTenantChange(pydantic.BaseModel, extra="forbid"):
    name: str | None = None
    tool_url: str | None = None
    tool_configuration: dict[str, Any] | None = None
    review_registrations: bool | None = None


class PydanticDeepLinking(pydantic.BaseModel, extra="forbid"):
    launch_token: str
    content_items: list[dict[str, Any]]


class MsgspecToken(msgspec.Struct, forbid_unknown_fields=True):
    scopes: list[str]


class MsgspecTenantChange(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    tool_url: str | None = None
    tool_configuration: dict[str, Any] | None = None
    review_registrations: bool | None = None


class MsgspecDeepLinking(msgspec.Struct, forbid_unknown_fields=True):
    launch_token: str
    content_items: list[dict[str, Any]]


# --------------------------------------------------------------------------------------------------- the paths
def _page_paths(rows: list[Registration]) -> dict[str, Callable[[], object]]:
    page_adapter = pydantic.TypeAdapter(PydanticPage)
    encoder = msgspec.json.Encoder()

    def baseline() -> bytes:
        items = []
        for row in rows:
            item = _fields(row)
            for name in ("verified_at", "launched_at", "created_at", "updated_at"):
                item[name] = _json_time(item[name])
            items.append(item)
        body = {"items": items, "next": None}
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()

    def pydantic_validated() -> bytes:
        page = PydanticPage(items=[PydanticItem(**_fields(row)) for row in rows], next=None)
        return page_adapter.dump_json(page)

    def pydantic_constructed() -> bytes:
        page = PydanticPage.model_construct(
            items=[PydanticItem.model_construct(**_fields(row)) for row in rows], next=None
        )
        return page_adapter.dump_json(page)

    def msgspec_struct() -> bytes:
        return encoder.encode(MsgspecPage(items=[MsgspecItem(**_fields(row)) for row in rows], next=None))

    def fields_only() -> list[dict[str, Any]]:
        return [_fields(row) for row in rows]

    return {
        "reading the rows alone": fields_only,
        "dicts + json (today)": baseline,
        "pydantic, validated": pydantic_validated,
        "pydantic, constructed": pydantic_constructed,
        "msgspec Struct": msgspec_struct,
    }


def _bodies() -> dict[str, tuple[bytes, type[pydantic.BaseModel], type[msgspec.Struct]]]:
    tool_configuration = {
        "messages": [
            {"type": "LtiResourceLinkRequest", "label": f"Item {n}", "placements": ["course_navigation"]}
            for n in range(8)
        ],
        "scopes": ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"] * 4,
        "claims": ["iss", "sub", "name", "email"],
        "contacts": ["ops@example.com"],
    }
    items = [
        {"type": "ltiResourceLink", "title": f"Quiz {n}", "url": f"https://tool.example.com/q/{n}"} for n in range(5)
    ]
    return {
        "token request": (
            json.dumps({"scopes": ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem", "openid"]}).encode(),
            PydanticToken,
            MsgspecToken,
        ),
        "tenant PATCH": (
            json.dumps({"name": "Quiz Tool", "tool_configuration": tool_configuration}).encode(),
            PydanticTenantChange,
            MsgspecTenantChange,
        ),
        "Deep Linking answer": (
            json.dumps({"launch_token": "x" * 900, "content_items": items}).encode(),
            PydanticDeepLinking,
            MsgspecDeepLinking,
        ),
    }


def _microseconds(function: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(function, number=number, repeat=ROUNDS)) / number * 1e6


def main() -> None:
    rows = _rows()
    print(f"API models: serialising a page of {PAGE} registrations from ORM rows (best of {ROUNDS}, µs per page):")
    spent = {name: _microseconds(path, 50) for name, path in _page_paths(rows).items()}
    for name, microseconds in spent.items():
        print(f"  {name:<24} {microseconds:8.0f} µs   {microseconds / spent['dicts + json (today)']:5.2f} x today")
    print(f"API models: reading a JSON body into typed values (best of {ROUNDS}, µs per body):")
    for name, (body, pydantic_model, msgspec_model) in _bodies().items():
        today = _microseconds(functools.partial(json.loads, body), 2000)
        with_pydantic = _microseconds(functools.partial(pydantic_model.model_validate_json, body), 2000)
        decoder = msgspec.json.Decoder(msgspec_model)
        with_msgspec = _microseconds(functools.partial(decoder.decode, body), 2000)
        print(f"  {name:<20} json.loads {today:6.1f}   pydantic {with_pydantic:6.1f}   msgspec {with_msgspec:6.1f}")
    # Nested objects inside a free-form content item, as an attacker would send them.
    deep = b'{"launch_token": "x", "content_items": [' + b'{"a":' * DEPTH + b"1" + b"}" * DEPTH + b"]}"
    print(f"A Deep Linking body nested {DEPTH} deep ({len(deep)} bytes):")
    print(f"  pydantic: {_outcome(lambda: PydanticDeepLinking.model_validate_json(deep))}")
    print(f"  msgspec:  {_outcome(lambda: msgspec.json.decode(deep, type=MsgspecDeepLinking))}")


def _outcome(read: Callable[[], object]) -> str:
    try:
        read()
    except pydantic.ValidationError as error:
        return f"ValidationError, a 422 answer ({error.errors()[0]['msg']})"
    except msgspec.ValidationError as error:
        return f"ValidationError, a 422 answer ({error})"
    except RecursionError as error:
        return f"RecursionError, a 500 unless every caller catches it ({error})"
    return "read"


if __name__ == "__main__":
    main()
