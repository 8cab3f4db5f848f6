"""Failed sign-ins per address: past the limit in the window, the address waits; the window slides."""

from __future__ import annotations

from tenants.accounts.service import ADDRESS_WINDOW_SECONDS, MAX_FAILURES_PER_ADDRESS, FailedSignIns


def test_an_address_waits_after_too_many_failures_until_the_window_slides() -> None:
    now = [1000.0]
    failures = FailedSignIns(clock=lambda: now[0])
    for _ in range(MAX_FAILURES_PER_ADDRESS - 1):
        failures.add("192.0.2.1")
    assert failures.wait("192.0.2.1") == 0
    failures.add("192.0.2.1")
    assert 0 < failures.wait("192.0.2.1") <= ADDRESS_WINDOW_SECONDS + 1
    assert failures.wait("192.0.2.2") == 0, "other addresses are not held back"
    now[0] += ADDRESS_WINDOW_SECONDS + 1
    assert failures.wait("192.0.2.1") == 0
