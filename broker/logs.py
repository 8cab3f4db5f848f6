"""Logging for every `broker` command: one set-up, and no secret in any line, whichever library writes it.

Platforms put registration tokens in URL queries (the registration URL, Canvas's configuration URL,
Blackboard's registration endpoint). So access lines lose their query, the HTTP client libraries (which log
every outbound URL, query included) only speak up for warnings, and every handler redacts whatever still looks
like a secret, as a last line of defence.
"""

from __future__ import annotations

import copy
import logging
import logging.config
from collections.abc import Mapping
from typing import Any

from uvicorn.config import LOGGING_CONFIG

from broker.redaction import redact_text

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers whose lines at INFO and below carry outbound URLs with their queries, or request and response headers.
QUIET_LIBRARIES = ("httpx", "httpcore", "hpack")


class RedactQueryFilter(logging.Filter):
    """Replaces the query of the request path in uvicorn access records with `?…`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            path, separator, _ = record.args[2].partition("?")
            if separator:
                record.args = (*record.args[:2], f"{path}?…", *record.args[3:])
        return True


class RedactSecretsFilter(logging.Filter):
    """Redacts secret-shaped text (tokens, keys, credentials) from a record's message, traceback and stack."""

    _tracebacks = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if redact_text(message) != message:
            # Formatters that read the arguments themselves (uvicorn's access lines) need them in their shape;
            # when redacting them one by one is not enough, the record becomes its redacted message.
            record.args = _redacted_arguments(record.args)
            message = record.getMessage()
            redacted = redact_text(message)
            if redacted != message:
                record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._tracebacks.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def _redacted_arguments(arguments: Any) -> Any:
    if isinstance(arguments, tuple):
        return tuple(redact_text(value) if isinstance(value, str) else value for value in arguments)
    if isinstance(arguments, Mapping):
        return {key: redact_text(value) if isinstance(value, str) else value for key, value in arguments.items()}
    return arguments


def log_config(level: str = "INFO") -> dict[str, Any]:
    """The `logging.config.dictConfig` of every `broker` command, uvicorn's own loggers included."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_query": {"()": RedactQueryFilter}, "redact_secrets": {"()": RedactSecretsFilter}}
    config["formatters"]["line"] = {"format": LINE_FORMAT}
    handlers = config["handlers"]
    handlers["default"]["filters"] = ["redact_secrets"]
    handlers["access"]["filters"] = ["redact_query", "redact_secrets"]
    handlers["line"] = {
        "class": "logging.StreamHandler",
        "formatter": "line",
        "stream": "ext://sys.stderr",
        "filters": ["redact_secrets"],
    }
    config["root"] = {"handlers": ["line"], "level": level}
    config["loggers"].update({name: {"level": "WARNING"} for name in QUIET_LIBRARIES})
    return config


def configure_logging(level: str = "INFO") -> None:
    logging.config.dictConfig(log_config(level))
