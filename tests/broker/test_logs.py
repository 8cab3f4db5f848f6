"""Access log lines never carry a query string (registration tokens ride in it)."""

from __future__ import annotations

import logging

from broker.logs import RedactQueryFilter, server_log_config


def test_access_record_loses_its_query() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/t/acme/lti/register?registration_token=secret-token", "1.1", 200),
        None,
    )
    assert RedactQueryFilter().filter(record)
    assert "secret-token" not in record.getMessage()
    assert "/t/acme/lti/register?…" in record.getMessage()


def test_server_log_config_attaches_the_filter_to_access_lines() -> None:
    config = server_log_config()
    assert config["handlers"]["access"]["filters"] == ["redact_query"]
    assert config["filters"]["redact_query"]["()"] is RedactQueryFilter
    assert config["loggers"]["uvicorn.access"]["handlers"] == ["access"]
