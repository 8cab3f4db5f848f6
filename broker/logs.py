"""Logging set-up for `broker serve`: uvicorn's format, with query strings kept out of access lines.

Platforms put registration tokens in the registration URL's query, so an access line must never show one.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG


class RedactQueryFilter(logging.Filter):
    """Replaces the query of the request path in uvicorn access records with `?…`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            path, separator, _ = record.args[2].partition("?")
            if separator:
                record.args = (*record.args[:2], f"{path}?…", *record.args[3:])
        return True


def server_log_config() -> dict[str, Any]:
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_query"] = {"()": RedactQueryFilter}
    config["handlers"]["access"]["filters"] = ["redact_query"]
    config["loggers"]["broker"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
