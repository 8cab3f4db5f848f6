"""Logging for every `broker` command: one set-up, one line per event in JSON or in text, and no secret in any
line, whichever library writes it.

Each line carries its context (`broker.log_context`): the request id, the tenant's slug and the attempt id
while a request is handled, the tenant, delivery and attempt while a webhook goes out. In JSON each line is one
object with these as members; in text they follow the message as `name=value`.

Platforms put registration tokens in URL queries (the registration URL, Canvas's configuration URL,
Blackboard's registration endpoint). So request lines lose their query, the HTTP client libraries (which log
every outbound URL, query included) only speak up for warnings, and every handler redacts whatever still looks
like a secret, as a last line of defence.
"""

from __future__ import annotations

import copy
import json
import logging
import logging.config
import os
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from uvicorn.config import LOGGING_CONFIG

from broker import log_context
from broker.redaction import may_hold_secret, redact_text
from broker.settings import LOG_FORMATS, SettingsError, log_format_of

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers whose lines at INFO and below carry outbound URLs with their queries, or request and response headers.
QUIET_LIBRARIES = ("httpx", "httpcore", "hpack")
# A record's own members beside its message (`logger.info(..., extra=fields(status=200))`): JSON lines show them.
FIELDS = "broker_fields"
# A record's context, as `ContextFilter` found it when the record was handled.
CONTEXT = "broker_context"
# Text lines quote a value that would otherwise run into the next, or start a line of its own.
_PLAIN_VALUE = re.compile(r"[^\s\"=\\]{1,200}")


def fields(**values: Any) -> dict[str, Any]:
    """`extra=` for a line with members of its own: `logger.info("sent", extra=fields(status=200))`."""
    return {FIELDS: values}


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
        own = getattr(record, FIELDS, None)
        # One search of the message and the record's own members together, which most lines pass: the search
        # finds in the joined text whatever it would find in each (`broker.redaction`).
        texts = [message]
        if own:
            texts += [value for value in own.values() if isinstance(value, str)]
        if may_hold_secret("\n".join(texts)):
            if redact_text(message) != message:
                # Formatters that read the arguments themselves (uvicorn's access lines) need them in their
                # shape; when redacting them one by one is not enough, the record becomes its redacted message.
                record.args = _redacted_arguments(record.args)
                message = record.getMessage()
                redacted = redact_text(message)
                if redacted != message:
                    record.msg, record.args = redacted, ()
            if own:
                setattr(record, FIELDS, _redacted_arguments(own))
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


class ContextFilter(logging.Filter):
    """Puts the context the record was written in (`broker.log_context`) on the record, for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, CONTEXT):
            setattr(record, CONTEXT, _context_members(log_context.current()))
        return True


def _context_members(context: log_context.LogContext | None) -> dict[str, Any]:
    if context is None:
        return {}
    members: dict[str, Any] = {}
    for name, value in (
        ("request_id", context.request_id), ("tenant", context.tenant_slug()), ("attempt_id", context.attempt_id),
    ):  # fmt: skip
        if value is not None:
            members[name] = value
    for name, value in context.fields.items():
        if value is None:
            members.pop(name, None)
        else:
            members[name] = value
    return members


# `json.dumps` with options of its own makes an encoder at each call.
_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the context, the record's own members, and
    the traceback as one string."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, CONTEXT, {}),
            **getattr(record, FIELDS, {}),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return _JSON.encode(line)


class TextFormatter(logging.Formatter):
    """LINE_FORMAT, then the context as `name=value` (the record's own members are said by its message)."""

    def __init__(self) -> None:
        super().__init__(LINE_FORMAT)
        # The time's text to the second, made once a second rather than once a line: (second, text).
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, text = self._second
        if second != int(record.created):
            second, text = int(record.created), time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, text)
        return f"{text},{int(record.msecs):03d}"

    def formatMessage(self, record: logging.LogRecord) -> str:
        # LINE_FORMAT, put together without reading the record's every attribute into a mapping.
        line = f"{record.asctime} {record.levelname} {record.name}: {record.message}"
        if "\n" in line or "\r" in line:
            # A line break in a message (a request's decoded path, a platform's words) would forge a line.
            line = line.replace("\r", "\\r").replace("\n", "\\n")
        context = getattr(record, CONTEXT, None)
        if not context:
            return line
        return line + "".join([f" {name}={_text_value(value)}" for name, value in context.items()])


def _text_value(value: Any) -> str:
    text = str(value)
    return text if _PLAIN_VALUE.fullmatch(text) else json.dumps(text, ensure_ascii=False)


def log_config(level: str = "INFO", log_format: str = "text") -> dict[str, Any]:
    """The `logging.config.dictConfig` of every `broker` command, uvicorn's own loggers included; `log_format`
    is `json` or `text` (BROKER_LOG_FORMAT)."""
    assert log_format in LOG_FORMATS
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {
        "context": {"()": ContextFilter},
        "redact_query": {"()": RedactQueryFilter},
        "redact_secrets": {"()": RedactSecretsFilter},
    }
    config["formatters"]["json"] = {"()": JsonFormatter}
    config["formatters"]["line"] = {"()": TextFormatter}
    handlers = config["handlers"]
    handlers["default"]["filters"] = ["context", "redact_secrets"]
    handlers["access"]["filters"] = ["context", "redact_query", "redact_secrets"]
    handlers["line"] = {
        "class": "logging.StreamHandler",
        "formatter": "line",
        "stream": "ext://sys.stderr",
        "filters": ["context", "redact_secrets"],
    }
    if log_format == "json":
        for handler in handlers.values():
            handler["formatter"] = "json"
    config["root"] = {"handlers": ["line"], "level": level}
    config["loggers"].update({name: {"level": "WARNING"} for name in QUIET_LIBRARIES})
    return config


def configure_logging(level: str = "INFO", log_format: str | None = None) -> None:
    """Sets logging up; without `log_format`, as BROKER_LOG_FORMAT and BROKER_ENV say (text when they say
    nothing a command could use: the command's settings then say what is wrong)."""
    if log_format is None:
        try:
            log_format = log_format_of(os.environ)
        except SettingsError:
            log_format = "text"
    logging.config.dictConfig(log_config(level, log_format))
