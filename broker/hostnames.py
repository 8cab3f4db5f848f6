"""Host names as the broker accepts them from operators and tenants: a DNS name a TLS certificate can cover.

One spelling per name, so that a lookup by name finds it: lower-cased, without the root's trailing dot, and
internationalised names in their ASCII (punycode) form. Raw Unicode is refused with that form named, rather
than converted silently: the operator's DNS records and certificate must use the same ASCII spelling. Ports,
underscores (allowed in some DNS records, never in a host name a browser and a certificate agree on), IP
addresses and single-label names are refused.
"""

from __future__ import annotations

import ipaddress
import re

import idna

MAX_LENGTH = 253
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class HostnameError(ValueError):
    """The name is not a host name the broker can serve; the message says why and what would be."""


def normalise_hostname(value: str) -> str:
    """The one spelling of a host name, or HostnameError saying what is wrong with it."""
    name = value.strip().lower()
    if name.endswith("."):
        name = name[:-1]  # the fully qualified spelling of the same name
    if not name:
        raise HostnameError("a host name is required, such as lti.example.com")
    if ":" in name or "/" in name:
        raise HostnameError(
            f"{value!r} is not a bare host name: give it without scheme, port or path (the scheme and port "
            "come from BROKER_BASE_URL)"
        )
    if not name.isascii():
        raise HostnameError(_unicode_refusal(value, name))
    if _is_ip_address(name):
        raise HostnameError(f"{value!r} is an IP address; a host name is needed, such as lti.example.com")
    if len(name) > MAX_LENGTH:
        raise HostnameError(f"{value!r} is longer than the {MAX_LENGTH} characters a DNS name may have")
    labels = name.split(".")
    if len(labels) < 2:
        raise HostnameError(f"{value!r} is a single label; give the full name, such as lti.example.com")
    for label in labels:
        _check_label(value, label)
    return name


def is_within(name: str, domain: str) -> bool:
    """Whether `name` is `domain` or a name under it (both in their one spelling)."""
    return name == domain or name.endswith("." + domain)


def _check_label(value: str, label: str) -> None:
    if "_" in label:
        raise HostnameError(f"{value!r} has an underscore, which host names may not have; use a hyphen")
    if not _LABEL.match(label):
        raise HostnameError(
            f"{value!r} has the label {label!r}: each dot-separated part is 1 to 63 letters, digits or "
            "hyphens, neither starting nor ending with a hyphen"
        )
    if label.startswith("xn--"):
        try:
            idna.decode(label)
        except idna.IDNAError as error:
            raise HostnameError(f"{value!r} has the label {label!r}, which is not valid punycode") from error


def _unicode_refusal(value: str, name: str) -> str:
    try:
        ascii_form = idna.encode(name, uts46=True).decode()
    except idna.IDNAError:
        return f"{value!r} is not a valid internationalised host name"
    return f"{value!r} has non-ASCII characters; give its ASCII (punycode) form {ascii_form!r}"


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return bool(re.fullmatch(r"[0-9.]+", name))
    return True
