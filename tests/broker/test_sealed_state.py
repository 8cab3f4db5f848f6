"""Sealed state is Fernet, byte for byte: what `cryptography.fernet.Fernet` makes with the sealer's key opens here,
what the sealer makes opens with Fernet, and each refuses what the other refuses (but for other spellings of the
same bytes, which the sealer alone refuses)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken

from broker.sealed_state import StateError, StateSealer
from tenants.encryption import derive_key
from tests.clock import Clock

SECRET = "a-secret-key-for-sealed-state-tests-0123456789"
PURPOSE = "launch-state"
MAX_AGE = 600
PAYLOADS: list[dict[str, Any]] = [
    {},
    {"t": "ten_1", "r": "reg_1", "n": "nonce", "u": "https://broker.test/t/acme/lti/launch", "x": 1_700_000_000},
    {"k": "v" * 8},  # 16 bytes of JSON: a whole block of padding
    {"k": "v" * 7},  # 15 bytes: one byte of padding
    {"é": "ü"},  # JSON's escapes
    {"long": "x" * 5000, "nested": {"list": [1, 2.5, None, True]}},
]


def fernet(purpose: str = PURPOSE) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(derive_key(SECRET, f"sealed-state {purpose}")))


def sealer(clock: Clock, purpose: str = PURPOSE) -> StateSealer:
    return StateSealer(SECRET, purpose, clock=clock)


def encoded(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_fernet_opens_what_the_sealer_seals_and_the_other_way_round(payload: dict[str, Any]) -> None:
    clock = Clock(1_700_000_000.0)
    ours = sealer(clock)
    sealed = [ours.seal(payload) for _ in range(3)]
    for value in sealed:
        assert fernet().decrypt_at_time(value, MAX_AGE, int(clock.now)) == encoded(payload)
        assert fernet().extract_timestamp(value) == int(clock.now)
        assert ours.unseal(value, max_age=MAX_AGE) == payload
    assert len({*sealed}) == 3, "each value has its own IV"
    assert len({base64.urlsafe_b64decode(value)[9:25] for value in sealed}) == 3
    theirs = fernet().encrypt_at_time(encoded(payload), int(clock.now)).decode()
    assert ours.unseal(theirs, max_age=MAX_AGE) == payload


def test_the_ages_either_side_of_the_limit_are_those_of_fernet() -> None:
    clock = Clock(1_700_000_000.0)
    ours = sealer(clock)
    value = ours.seal({"a": 1})
    for offset, opens in ((MAX_AGE, True), (MAX_AGE + 1, False), (-60, True), (-61, False)):
        clock.now = 1_700_000_000.0 + offset
        now = int(clock.now)
        if opens:
            assert ours.unseal(value, max_age=MAX_AGE) == {"a": 1}
            assert fernet().decrypt_at_time(value, MAX_AGE, now) == b'{"a":1}'
        else:
            with pytest.raises(StateError):
                ours.unseal(value, max_age=MAX_AGE)
            with pytest.raises(InvalidToken):
                fernet().decrypt_at_time(value, MAX_AGE, now)


def altered(token: str) -> list[str]:
    """Each byte of the token's data changed in turn, re-encoded canonically: the version, the time, the IV, the
    ciphertext and the HMAC."""
    data = base64.urlsafe_b64decode(token)
    return [
        base64.urlsafe_b64encode(data[:index] + bytes([data[index] ^ 1]) + data[index + 1 :]).decode()
        for index in range(len(data))
    ]


def test_any_altered_byte_is_refused_by_both() -> None:
    clock = Clock(1_700_000_000.0)
    ours = sealer(clock)
    for made in (ours.seal(PAYLOADS[1]), fernet().encrypt_at_time(encoded(PAYLOADS[1]), int(clock.now)).decode()):
        for value in altered(made):
            with pytest.raises(StateError):
                ours.unseal(value, max_age=MAX_AGE)
            with pytest.raises(InvalidToken):
                fernet().decrypt_at_time(value, MAX_AGE, int(clock.now))


def test_values_of_another_purpose_or_key_are_refused() -> None:
    clock = Clock(1_700_000_000.0)
    other = sealer(clock, "registration-review").seal({"a": 1})
    with pytest.raises(StateError):
        sealer(clock).unseal(other, max_age=MAX_AGE)
    with pytest.raises(StateError):
        StateSealer("another-secret-key-0123456789-0123456789", PURPOSE, clock=clock).unseal(
            sealer(clock).seal({"a": 1}), max_age=MAX_AGE
        )


def signed_by_hand(clock: Clock, plaintext: bytes, *, pad: bool = True) -> str:
    """A token with a valid HMAC over any plaintext, padded or not: what only the key's holder could make."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.hmac import HMAC

    key = derive_key(SECRET, f"sealed-state {PURPOSE}")
    if pad:
        size = 16 - len(plaintext) % 16
        plaintext += bytes([size]) * size
    iv = bytes(range(16))
    encryptor = Cipher(algorithms.AES(key[16:]), modes.CBC(iv)).encryptor()
    signed = b"\x80" + int(clock.now).to_bytes(8, "big") + iv + encryptor.update(plaintext) + encryptor.finalize()
    mac = HMAC(key[:16], SHA256())
    mac.update(signed)
    return base64.urlsafe_b64encode(signed + mac.finalize()).decode()


@pytest.mark.parametrize(
    ("plaintext", "pad", "fernet_opens"),
    [
        (b'{"a":1}', True, True),
        (b"[1,2]", True, True),  # JSON, but not an object
        (b"not json", True, True),
        (b"\xff\xfe{}", True, True),  # not UTF-8
        (b"0123456789abcdef", False, False),  # the last byte is no padding
        (b"0123456789abcd\x02\x03", False, False),  # padding of 2 whose bytes differ
        (b"0123456789abcdef" + b"\x00" * 16, False, False),  # padding of 0
        (b"0123456789abcdef" + b"\x11" * 16, False, False),  # padding longer than a block
    ],
)
def test_valid_signatures_over_bad_contents_are_refused(plaintext: bytes, pad: bool, fernet_opens: bool) -> None:
    clock = Clock(1_700_000_000.0)
    value = signed_by_hand(clock, plaintext, pad=pad)
    if fernet_opens:
        assert fernet().decrypt_at_time(value, MAX_AGE, int(clock.now)) == plaintext
    else:
        with pytest.raises(InvalidToken):
            fernet().decrypt_at_time(value, MAX_AGE, int(clock.now))
    if plaintext == b'{"a":1}':
        assert sealer(clock).unseal(value, max_age=MAX_AGE) == {"a": 1}
    else:
        with pytest.raises(StateError):
            sealer(clock).unseal(value, max_age=MAX_AGE)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda value: "",
        lambda value: value[:-4],  # shorter: bad padding, or a length no token has
        lambda value: value[:40],
        lambda value: "gA==",  # the version byte alone
        lambda value: base64.urlsafe_b64encode(base64.urlsafe_b64decode(value)[:-16]).decode(),  # a block less
        lambda value: value + "AAAA",  # three bytes more
        lambda value: value.replace("-", "+").replace("_", "/"),  # the other alphabet, when the value has - or _
        lambda value: "é" + value,  # not ASCII
        lambda value: value[:20] + "!" + value[20:],  # a character base64 decoders skip
        lambda value: value + "\n",
        lambda value: "Zg" + value,  # another version byte
    ],
)
def test_malformed_values_are_refused(mangle: Any) -> None:
    clock = Clock(1_700_000_000.0)
    ours = sealer(clock)
    value = ours.seal(PAYLOADS[1])
    while "-" not in value or "_" not in value:  # so that the other alphabet spells it otherwise
        value = ours.seal(PAYLOADS[1])
    with pytest.raises(StateError):
        ours.unseal(mangle(value), max_age=MAX_AGE)


def test_other_spellings_that_fernet_accepts_are_refused() -> None:
    """Base64 decoders skip characters outside their alphabet; Fernet opens such a spelling, the sealer does not
    (a launch's state is spent under a digest of its text)."""
    clock = Clock(1_700_000_000.0)
    value = sealer(clock).seal(PAYLOADS[1])
    respelt = value[:20] + "!" + value[20:]
    assert fernet().decrypt_at_time(respelt, MAX_AGE, int(clock.now)) == encoded(PAYLOADS[1])
    with pytest.raises(StateError):
        sealer(clock).unseal(respelt, max_age=MAX_AGE)
