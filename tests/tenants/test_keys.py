"""Stored signing keys outlive the library that wrote them: keys written by earlier versions (with jwcrypto) keep
signing, and new keys are stored in the same JWK form, so a broker process of either version reads either."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import update

from broker.launch import jose
from broker.services import Services
from tenants.key_generator import generate_signing_key, private_jwk_json
from tenants.keys import KeyRing, public_jwk, read_private_jwk
from tenants.models import SigningKey
from tests.broker.launch.helpers import NOW, decode_part
from tests.conftest import unique_slug

# A test-only RSA key as an earlier version stored it: the exact private JWK text it encrypted, and its public JWK.
STORED = json.loads((Path(__file__).parent / "fixtures" / "signing_key_jwcrypto.json").read_text())


async def test_a_key_stored_by_an_earlier_version_signs_what_its_published_key_verifies(services: Services) -> None:
    created = await services.tenants.create(unique_slug(), "Acme")
    async with services.database.transaction() as session:
        await session.execute(
            update(SigningKey)
            .where(SigningKey.tenant_id == created.tenant.id)
            .values(
                kid=STORED["public_jwk"]["kid"],
                private_key_encrypted=services.secret_box.encrypt(STORED["private_key_json"]),
                public_jwk=STORED["public_jwk"],
            )
        )
    keys = await KeyRing(services.database, services.secret_box).get(created.tenant.slug)
    assert keys is not None and keys.signing_key is not None
    token = jose.sign({"sub": "user-1"}, keys.signing_key, now=NOW, lifetime=60)
    assert decode_part(token, 0)["kid"] == STORED["public_jwk"]["kid"]
    assert jose.verify(token, keys.key_set(), {"RS256"})["sub"] == "user-1"


def test_a_new_key_is_stored_and_published_in_the_form_earlier_versions_wrote() -> None:
    key = generate_signing_key()
    stored = private_jwk_json(key)
    assert sorted(json.loads(stored)) == sorted(json.loads(STORED["private_key_json"]))
    assert sorted(public_jwk(key)) == sorted(STORED["public_jwk"])
    assert read_private_jwk(stored).as_dict(private=True) == json.loads(stored)
    # The kid is the key's RFC 7638 thumbprint, computed as earlier versions did.
    assert key.kid == key.thumbprint()
    assert read_private_jwk(STORED["private_key_json"]).thumbprint() == STORED["public_jwk"]["kid"]
