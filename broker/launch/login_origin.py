"""Where a login initiation came from, and whether the broker sends that browser straight on to the platform.

Registration is open to anyone (Dynamic Registration works from a URL), so a registrant can make the login
URL on the broker's host redirect to any authorization endpoint it names: an open redirect for phishing, if
the broker followed every login blindly. The broker redirects at once when the login is loaded in a frame (the
LMS frames the tool; a redirect inside someone's frame shows nobody the broker's address, so it lends a phishing
page nothing), or when the page that started it is on one of the platform's own hosts: the browser says where
it comes from (`Origin` on a form post, `Referer` on a link), and the platform's hosts are those its
configuration named, or one a completed launch of the registration started from. Any other login (a link
opened from an e-mail or another site) gets a page naming where it leads, with a link to go on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

# Hosts learnt from completed launches, per registration: an LMS has a handful (its own, a few domains).
MAX_LEARNT_HOSTS = 20


def host_of(url: str | None) -> str | None:
    """The lower-case host of an absolute URL, or None for anything else (including `Origin: null`)."""
    if not url or url == "null":
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:  # unbalanced IPv6 brackets and other unreadable URLs
        return None
    return host or None


@dataclass(frozen=True)
class LoginSource:
    """What the browser says about where a login initiation comes from."""

    host: str | None = None  # the page that started it: `Origin` (a form post), else `Referer` (a link)
    framed: bool = False  # loaded in a frame (`Sec-Fetch-Dest`), as LMSs show tools

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> LoginSource:
        host = host_of(headers.get("origin")) or host_of(headers.get("referer"))
        return cls(host, headers.get("sec-fetch-dest") in ("iframe", "frame"))

    def goes_straight_on(self, platform_hosts: frozenset[str]) -> bool:
        return self.framed or (self.host is not None and self.host in platform_hosts)


def platform_hosts(urls: Iterable[str | None], learnt: Iterable[str] = ()) -> frozenset[str]:
    """The hosts a login may come from to go straight on: the platform's own URLs' and those learnt."""
    return frozenset(filter(None, (host_of(url) for url in urls))) | frozenset(learnt)


def with_learnt_host(learnt: list[str] | None, host: str) -> list[str]:
    """The learnt hosts with `host` added last, the oldest dropped beyond MAX_LEARNT_HOSTS."""
    kept = [known for known in learnt or [] if known != host]
    return [*kept, host][-MAX_LEARNT_HOSTS:]
