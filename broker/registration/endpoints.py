"""The platform endpoints the broker calls (authorization, token, key set), exact, and encrypted at rest when
a query value looks secret (a key set URL such as `…/jwks?key=abc`).

A registration's endpoint columns hold display copies, with such values redacted; the exact URLs of those
endpoints are kept in `endpoint_secrets`, encrypted with the key for secrets at rest. Registrations stored
before that column existed hold exact URLs in the columns, and `called_endpoint` keeps using them.
"""

from __future__ import annotations

import json
from typing import Protocol

from broker import stored_text
from broker.redaction import redact_url
from tenants.encryption import SecretBox

CALLED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")


class StoredEndpoints(Protocol):
    authorization_endpoint: str | None
    token_endpoint: str | None
    jwks_uri: str
    endpoint_secrets: str | None


def endpoint_columns(exact: dict[str, str | None], box: SecretBox) -> dict[str, str | None]:
    """The endpoint columns: display copies, and, encrypted, the exact URLs those copies differ from."""
    columns: dict[str, str | None] = {}
    secret = {}
    for name in CALLED_ENDPOINTS:
        url = exact.get(name)
        # Redaction can lengthen a URL whose secret was shorter than the marker that replaces it.
        shown = None if url is None else stored_text.record(redact_url(url), stored_text.URL_LENGTH)
        columns[name] = shown
        if shown != url:
            secret[name] = url
    columns["endpoint_secrets"] = box.encrypt(json.dumps(secret)) if secret else None
    return columns


def called_endpoint(row: StoredEndpoints, name: str, box: SecretBox) -> str | None:
    """The exact URL of one endpoint, to call it."""
    if row.endpoint_secrets:
        exact = json.loads(box.decrypt(row.endpoint_secrets))
        if name in exact:
            return str(exact[name])
    value: str | None = getattr(row, name)
    return value
