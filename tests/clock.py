"""A stand-in for `time.time` that moves only when the test moves it (caches, limits and key sets take one)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now
