"""Standard Webhooks signing: the `webhook-id`, `webhook-timestamp` and `webhook-signature` headers of a body.

The signature is `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the base64-decoded part of
the `whsec_…` secret. While a rotated secret is in its grace period both secrets sign, space-separated, so a
receiver that still holds either one verifies the delivery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's prefix, not a secret


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(webhook_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given (the current one first)."""
    if not secrets:
        raise ValueError("a webhook is never sent unsigned")
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(secret, webhook_id, timestamp, body) for secret in secrets),
    }
