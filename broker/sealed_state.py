"""Sealed state: encrypted, authenticated, expiring values carried by a form field instead of a cookie.

Registration pages live in an LMS iframe where third-party cookies are unreliable, and the state may hold
a registration token, so it is encrypted (not merely signed) before it reaches a page.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from tenants.encryption import derive_key


class StateError(Exception):
    """The value was altered, made for another purpose, or has expired."""


class StateSealer:
    def __init__(self, secret_key: str, purpose: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret_key, f"sealed-state {purpose}")))

    def seal(self, payload: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode()).decode()

    def unseal(self, sealed: str, *, max_age: int) -> dict[str, Any]:
        try:
            payload = json.loads(self._fernet.decrypt(sealed.encode(), ttl=max_age))
        except (InvalidToken, ValueError) as error:
            raise StateError("the form has expired or was altered") from error
        if not isinstance(payload, dict):
            raise StateError("the form was altered")
        return payload
