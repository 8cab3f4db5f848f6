"""Host names from operators and tenants: one spelling per name, and a clear reason for each refusal."""

from __future__ import annotations

import pytest

from broker.hostnames import HostnameError, is_within, normalise_hostname
from broker.settings import Settings
from tenants.hosts import check_custom_hostname, subdomain_slug, tenant_site


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("lti.acme.com", "lti.acme.com"),
        ("LTI.Acme.COM", "lti.acme.com"),  # lower-cased
        ("lti.acme.com.", "lti.acme.com"),  # the fully qualified spelling of the same name
        ("  lti.acme.com ", "lti.acme.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),  # punycode is the name's one spelling
        ("a-1.b-2.example", "a-1.b-2.example"),
    ],
)
def test_names_are_kept_in_one_spelling(given: str, kept: str) -> None:
    assert normalise_hostname(given) == kept


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("", "required"),
        ("lti.acme.com:8443", "without scheme, port or path"),
        ("https://lti.acme.com", "without scheme, port or path"),
        ("lti.acme.com/path", "without scheme, port or path"),
        ("lti_tools.acme.com", "underscore"),
        ("bücher.example", "'xn--bcher-kva.example'"),  # raw Unicode refused, its ASCII form named
        ("xn--zz.example", "not valid punycode"),
        ("10.0.0.1", "IP address"),
        ("[::1]", "without scheme, port or path"),
        ("localhost", "single label"),
        ("-lti.acme.com", "neither starting nor ending with a hyphen"),
        ("lti..acme.com", "1 to 63"),
        ("a" * 64 + ".example", "1 to 63"),
        (("a" * 60 + ".") * 5 + "com", "253"),
        ("lti.acme.com..", "1 to 63"),
    ],
)
def test_bad_names_are_refused_with_the_reason(given: str, reason: str) -> None:
    with pytest.raises(HostnameError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        normalise_hostname(given)


SETTINGS = Settings(base_url="https://lti.example.com", tenant_domain="tools.example.com")


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("lti.example.com", "the broker's own host"),
        ("tools.example.com", "under BROKER_TENANT_DOMAIN"),  # the tenant domain itself
        ("acme.tools.example.com", "under BROKER_TENANT_DOMAIN"),  # another tenant's subdomain
        ("x.acme.tools.example.com", "under BROKER_TENANT_DOMAIN"),
    ],
)
def test_a_tenant_cannot_take_the_base_host_or_a_name_of_the_tenant_domain(given: str, reason: str) -> None:
    with pytest.raises(HostnameError, match=reason):
        check_custom_hostname(SETTINGS, given)


def test_a_host_names_a_tenant_one_way() -> None:
    assert subdomain_slug(SETTINGS, "acme.tools.example.com") == "acme"
    assert subdomain_slug(SETTINGS, "a.b.tools.example.com") is None
    assert subdomain_slug(SETTINGS, "tools.example.com") is None
    assert subdomain_slug(SETTINGS, "acme.tools.example.com.evil.com") is None
    assert subdomain_slug(Settings(base_url="https://lti.example.com"), "acme.tools.example.com") is None
    assert is_within("a.tools.example.com", "tools.example.com")
    assert not is_within("xtools.example.com", "tools.example.com")


def test_a_tenants_urls_are_on_its_own_name_then_its_subdomain_then_its_path() -> None:
    with_port = Settings(base_url="https://lti.example.com:8443", tenant_domain="tools.example.com")
    assert tenant_site(with_port, "acme", "lti.acme.com").registration_url == "https://lti.acme.com:8443/lti/register"
    assert tenant_site(with_port, "acme", None).jwks_url == "https://acme.tools.example.com:8443/.well-known/jwks.json"
    path_only = Settings(base_url="https://lti.example.com")
    assert tenant_site(path_only, "acme", None).launch_url == "https://lti.example.com/t/acme/lti/launch"
    assert tenant_site(path_only, "acme", None).domain == "lti.example.com"
    assert tenant_site(with_port, "acme", None).domain == "acme.tools.example.com:8443"
