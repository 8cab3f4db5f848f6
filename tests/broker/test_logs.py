"""Log lines never carry a secret: access lines lose their query, and every handler redacts what looks like one."""

from __future__ import annotations

import json
import logging
import os
import re
import sys

import pytest
from uvicorn.logging import AccessFormatter

from broker import log_context
from broker.logs import (
    LINE_FORMAT,
    ContextFilter,
    JsonFormatter,
    RedactQueryFilter,
    RedactSecretsFilter,
    TextFormatter,
    fields,
    log_config,
)
from broker.redaction import _TEXT_RULES, may_hold_secret, redact_text

TOKEN = "c2VjcmV0LXRva2Vu"


def record(name: str, message: str, args: tuple[object, ...] | None = None) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)


def handled(record: logging.LogRecord, formatter: logging.Formatter) -> str:
    """The line a broker handler writes for the record: its filters, then its formatter."""
    for kind in (ContextFilter, RedactSecretsFilter):
        assert kind().filter(record)
    return formatter.format(record)


def access_record(path: str) -> logging.LogRecord:
    return record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET", path, "1.1", 200))


def test_access_record_loses_its_query() -> None:
    access = access_record(f"/t/acme/lti/register?registration_token={TOKEN}")
    assert RedactQueryFilter().filter(access)
    assert TOKEN not in access.getMessage()
    assert "/t/acme/lti/register?…" in access.getMessage()


@pytest.mark.parametrize(
    "text",
    [
        f"GET https://lms.example/config?registration_token={TOKEN}&x=1",
        f"POST https://lms.example/register?registrationToken={TOKEN}",
        f"https://b/t/acme/lti/register?openid_configuration=https%3A%2F%2Fl%2Fc%3Fregistration_token%3D{TOKEN}%26a",
        f"Authorization: Bearer {TOKEN}",
        f"{{'access_token': '{TOKEN}', 'token_type': 'Bearer'}}",
        f'{{"kty": "RSA", "d": "{TOKEN}"}}',
        f"client_assertion=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.{TOKEN}",
        f"the key lbk_{TOKEN} and the secret whsec_{TOKEN}",
        f"-----BEGIN PRIVATE KEY-----\n{TOKEN}\n-----END PRIVATE KEY-----",
        f"registration_token%253D{TOKEN}",
        f"AUTHORIZATION: BEARER {TOKEN}",
        f"{{'Access_Token' : '{TOKEN}'}}",
    ],
)
def test_secret_shapes_are_redacted(text: str) -> None:
    assert TOKEN not in redact_text(text)
    # The quick search that lets most text skip the rules finds every text a rule finds, in any case.
    for variant in (text, text.lower(), text.upper(), text.swapcase()):
        for pattern, _ in _TEXT_RULES:
            for found in pattern.finditer(variant):
                assert may_hold_secret(found.group(0)), (pattern.pattern, found.group(0))


@pytest.mark.parametrize(
    "value",
    [
        f"/t/acme/lti/register?registration_token={TOKEN}",
        f"Bearer {TOKEN}",
        f"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.{TOKEN}",
        f"code={TOKEN}",
    ],
)
def test_a_member_holding_a_secret_the_message_does_not_is_redacted(value: str) -> None:
    clean = record("broker.access", "GET %s 200", ("/t/acme/lti/launch",))
    clean.__dict__.update(fields(path=value, method="GET", status=200))
    written = handled(clean, JsonFormatter())
    assert TOKEN not in written
    assert json.loads(written)["message"] == "GET /t/acme/lti/launch 200"


def test_a_member_found_in_a_clean_message_is_still_checked_on_its_own() -> None:
    # "xcode=…" is clean where it stands (no parameter is named `xcode`); "code=…", a part of it, is not.
    line = record("broker.access", "GET %s 200", (f"/xcode={TOKEN}",))
    line.__dict__.update(fields(path=f"/xcode={TOKEN}", code=f"code={TOKEN}"))
    written = json.loads(handled(line, JsonFormatter()))
    assert written["message"] == f"GET /xcode={TOKEN} 200" and written["code"] == "code=[redacted]"


def test_what_is_not_secret_stays() -> None:
    text = 'token_endpoint="https://lms.example/token" product_family_code=moodle client_id=abc kid=k1'
    assert redact_text(text) == text
    assert (
        redact_text('{"token_endpoint": "https://lms.example/token"}')
        == '{"token_endpoint": "https://lms.example/token"}'
    )


def test_a_redacted_access_record_keeps_the_shape_its_formatter_reads() -> None:
    access = access_record(f"/t/acme/lti/launch?registration_token={TOKEN}")
    assert RedactSecretsFilter().filter(access)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(access)
    assert TOKEN not in line and "/t/acme/lti/launch" in line and line.endswith(" 200 OK")


def test_arguments_and_tracebacks_are_redacted() -> None:
    plain = record("httpx", "HTTP Request: %s %r", ("GET", {"url": f"https://l/c?registration_token={TOKEN}"}))
    try:
        raise ValueError(f"refused https://l/c?registrationToken={TOKEN}")
    except ValueError:
        plain.exc_info = sys.exc_info()
    assert RedactSecretsFilter().filter(plain)
    line = logging.Formatter("%(message)s").format(plain)
    assert TOKEN not in line and "HTTP Request: GET" in line and "ValueError: refused" in line


def test_the_broker_set_up_redacts_every_handler_and_quiets_the_http_libraries() -> None:
    config = log_config()
    assert config["disable_existing_loggers"] is False
    assert config["handlers"]["access"]["filters"] == ["context", "redact_query", "redact_secrets"]
    assert all("redact_secrets" in handler["filters"] for handler in config["handlers"].values())
    assert config["root"]["handlers"] == ["line"]
    assert config["loggers"]["httpx"]["level"] == "WARNING"
    assert config["loggers"]["uvicorn.access"]["handlers"] == ["access"]


def test_a_json_line_is_one_object_with_its_context_and_its_own_members() -> None:
    line = record("broker.webhooks", "delivery %s: %s", ("del_1", "succeeded"))
    line.__dict__.update(fields(status_code=204, duration_ms=12))
    with log_context.about(tenant="acme", attempt_id="dat_1", delivery_id="del_1"):
        written = handled(line, JsonFormatter())
    assert "\n" not in written
    parsed = json.loads(written)
    assert parsed["time"].endswith("Z") and parsed["level"] == "INFO" and parsed["logger"] == "broker.webhooks"
    assert parsed["message"] == "delivery del_1: succeeded"
    assert {key: parsed[key] for key in ("tenant", "attempt_id", "delivery_id", "status_code", "duration_ms")} == {
        "tenant": "acme", "attempt_id": "dat_1", "delivery_id": "del_1", "status_code": 204, "duration_ms": 12,
    }  # fmt: skip
    assert "request_id" not in parsed, "no member for what the context does not know"


def test_json_lines_hold_tracebacks_and_redact_secrets_in_every_member() -> None:
    line = record("broker.access", "GET %s", (f"/x?registration_token={TOKEN}",))
    line.__dict__.update(fields(path=f"/x?registration_token={TOKEN}"))
    try:
        raise ValueError(f"refused Bearer {TOKEN}\nsecond line")
    except ValueError:
        line.exc_info = sys.exc_info()
    written = handled(line, JsonFormatter())
    assert TOKEN not in written and len(written.splitlines()) == 1
    assert "ValueError: refused Bearer" in json.loads(written)["exception"]


def test_a_text_line_names_its_context_and_quotes_what_could_run_on() -> None:
    with log_context.about(tenant="acme", delivery_id="del 1\nINFO forged line"):
        written = handled(record("broker.webhooks", "sent"), TextFormatter())
    assert written.endswith(' broker.webhooks: sent tenant=acme delivery_id="del 1\\nINFO forged line"')
    assert len(written.splitlines()) == 1
    assert handled(record("broker", "plain"), TextFormatter()).endswith("INFO broker: plain")


def test_a_text_line_is_line_format_then_its_context() -> None:
    for created in (1767225599.9996, 1767225600.0004, 1767225600.5):
        line = record("broker.access", "GET %s 200", ("/t/acme/lti/launch",))
        line.created, line.msecs = created, (created - int(created)) * 1000
        with log_context.about(tenant="acme"):
            written = handled(line, TextFormatter())
        assert written == logging.Formatter(LINE_FORMAT).format(line) + " tenant=acme"


def test_a_text_line_breaks_no_line_whatever_its_message_holds() -> None:
    forged = record("broker.access", "GET %s 404", ("/t/x\r\n2026-01-01 ERROR broker: forged",))
    written = handled(forged, TextFormatter())
    assert written.endswith("GET /t/x\\r\\n2026-01-01 ERROR broker: forged 404")
    assert len(written.splitlines()) == 1


def test_the_json_set_up_writes_json_from_every_handler() -> None:
    config = log_config(log_format="json")
    assert {handler["formatter"] for handler in config["handlers"].values()} == {"json"}
    assert all(handler["filters"][0] == "context" for handler in config["handlers"].values())
    assert {handler["formatter"] for handler in log_config()["handlers"].values()} == {"default", "access", "line"}


def test_a_forked_worker_makes_request_ids_of_its_own() -> None:
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its next id, then gone without running anything of pytest's
        os.write(writing, log_context.request_id_from([]).encode())
        os._exit(0)
    os.close(writing)
    os.waitpid(child, 0)
    childs = os.read(reading, 64).decode()
    os.close(reading)
    ours = log_context.request_id_from([])
    assert re.fullmatch(r"[0-9a-f]{16}", childs) and childs != ours
