"""The objects of a started broker kept out of the cyclic garbage collector's full passes while it serves.

A started broker holds some 160,000 objects the collector tracks (modules, classes, functions, the app and its
services), none of them ever garbage. A full collection walks every tracked object, and under the API's load one
runs every few seconds: measured by `make bench ONLY=scale` on a host 3.5-4x slower than the performance targets',
each took 150-200 ms, the whole process waiting, which made the p99 of some API pages 190-239 ms. Frozen
(`gc.freeze`) once the app has started, they are left out, and a full collection walks what was made since
(12-48 ms there). Such passes come more often, as the collector starts one when the objects kept since the last
reach a quarter of what it kept: the README's "Full collections" has what that costs. Freezing and unfreezing move
whole lists, so they cost nothing whatever the heap's size.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def kept_out_of_full_collections() -> Iterator[None]:
    """Everything the collector tracks now is left out of its passes until the block ends; then it is tracked
    again, so what a stopped app leaves behind (in a process that goes on, such as a test run) can be freed."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
