"""Real platforms' documents (in ``fixtures/``), loaded with their example hosts rewritten to an emulator's
loopback URLs.

The documents and their sources are described in each platform's section of docs/platforms.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

FIXTURE_DIR = Path(__file__).with_name("fixtures")


@cache
def _load(name: str) -> str:
    return (FIXTURE_DIR / f"{name}.json").read_text(encoding="utf-8")


def load_fixture(name: str) -> dict[str, Any]:
    """A fresh copy of ``fixtures/<name>.json``."""
    document: dict[str, Any] = json.loads(_load(name))
    return document


def rewrite_urls(value: Any, origins: Mapping[str, str]) -> Any:
    """Replace every string that starts with one of ``origins``' keys by the mapped prefix, recursively.

    Keys are full origins (``https://moodle.example.edu``); a string equal to the origin or followed
    by ``/`` or ``?`` is rewritten, so ``https://sso.x`` never matches ``https://sso.x.y``."""
    if isinstance(value, dict):
        return {key: rewrite_urls(item, origins) for key, item in value.items()}
    if isinstance(value, list):
        return [rewrite_urls(item, origins) for item in value]
    if isinstance(value, str):
        for old, new in origins.items():
            if value == old or value.startswith((old + "/", old + "?")):
                return new + value[len(old) :]
    return value
