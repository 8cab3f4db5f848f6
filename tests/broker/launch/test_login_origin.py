"""Where a login came from, as the browser says it, and which logins go straight on to the platform."""

from __future__ import annotations

import pytest

from broker.launch.login_origin import MAX_LEARNT_HOSTS, LoginSource, platform_hosts, with_learnt_host

LMS = frozenset({"lms.school.edu"})


@pytest.mark.parametrize(
    ("headers", "straight_on"),
    [
        ({"origin": "https://lms.school.edu"}, True),
        ({"origin": "https://LMS.school.edu:443"}, True),
        ({"referer": "https://lms.school.edu/course/view.php?id=3"}, True),
        ({"origin": "null", "referer": "https://lms.school.edu/"}, True),
        ({"sec-fetch-dest": "iframe", "referer": "https://elsewhere.example/"}, True),
        ({}, False),
        ({"origin": "null"}, False),
        ({"origin": "https://lms.school.edu.evil.example"}, False),
        ({"origin": "https://evil.example", "referer": "https://lms.school.edu/"}, False),
        ({"referer": "https://[::1"}, False),
        ({"sec-fetch-dest": "document", "referer": "https://mail.example/"}, False),
    ],
)
def test_only_the_lms_frame_or_its_pages_go_straight_on(headers: dict[str, str], straight_on: bool) -> None:
    assert LoginSource.of(headers).goes_straight_on(LMS) is straight_on


def test_the_platform_hosts_are_its_urls_hosts_and_those_learnt() -> None:
    urls = ("https://lms.school.edu", "https://auth.lms.example/authorize", None, "not a url", "https://[::1")
    assert platform_hosts(urls, ["learn.school.edu"]) == {"lms.school.edu", "auth.lms.example", "learn.school.edu"}


def test_learnt_hosts_are_bounded_and_the_newest_kept() -> None:
    hosts: list[str] = []
    for n in range(MAX_LEARNT_HOSTS + 5):
        hosts = with_learnt_host(hosts, f"h{n}.example")
    hosts = with_learnt_host(hosts, f"h{MAX_LEARNT_HOSTS}.example")
    assert len(hosts) == MAX_LEARNT_HOSTS
    assert hosts[-1] == f"h{MAX_LEARNT_HOSTS}.example" and hosts.count(hosts[-1]) == 1
    assert "h0.example" not in hosts
