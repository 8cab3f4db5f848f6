"""The address policy: which URLs and addresses the guarded client refuses before any request."""

from __future__ import annotations

import ipaddress

import pytest

from broker.http_client import (
    GuardedClient,
    OutboundConnectionError,
    OutboundTimeoutError,
    Purpose,
    UnsafeURLError,
)
from tests.broker.http_client.ssrf import ALWAYS_REFUSED, SSRF_TABLE
from tests.broker.http_client.support import (
    PUBLIC_IP,
    FakeDNS,
    ScriptedPlatform,
)

# --- URL and address refusal, before any request ---


@pytest.mark.parametrize(
    "url",
    [
        "http://platform.test/.well-known/openid-configuration",
        "ftp://platform.test/config",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "/relative/openid-configuration",
        "platform.test/openid-configuration",
        "https:///no-host",
        "https://admin:hunter2@platform.test/config",
    ],
)
async def test_refuses_anything_but_an_absolute_https_url_without_credentials(
    platform: ScriptedPlatform, client: GuardedClient, url: str
) -> None:
    platform.route().respond(200, json={})

    with pytest.raises(UnsafeURLError):
        await client.get(url, purpose=Purpose.REGISTRATION)

    assert not platform.calls


@pytest.mark.parametrize("url", ["ftp://platform.test/config", "file:///etc/passwd", "gopher://platform.test/"])
async def test_insecure_mode_still_refuses_other_schemes(platform: ScriptedPlatform, url: str) -> None:
    platform.route().respond(200, json={})

    async with platform.client(allow_insecure=True) as client:
        with pytest.raises(UnsafeURLError):
            await client.get(url, purpose=Purpose.REGISTRATION)

    assert not platform.calls


@pytest.mark.parametrize("host", ["169.254.169.254", "[fe80::1]", "224.0.0.1", "0.0.0.0"])  # noqa: S104
async def test_insecure_mode_still_refuses_metadata_and_non_host_addresses(
    platform: ScriptedPlatform, host: str
) -> None:
    platform.route().respond(200, json={})

    async with platform.client(allow_insecure=True) as client:
        with pytest.raises(UnsafeURLError):
            await client.get(f"http://{host}/latest/meta-data/", purpose=Purpose.REGISTRATION)

    assert not platform.calls


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.20.30.40", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("[::1]", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("[::ffff:a9fe:a9fe]", "link-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (a URL host, not a bind)
        ("100.64.0.1", "shared"),
        ("[2002:7f00:1::]", "loopback"),
        ("[64:ff9b::a00:1]", "private"),
        ("[fe80::1]", "link-local"),
        ("[fc00::1]", "private"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
    ],
)
async def test_refuses_blocked_addresses_before_any_request(
    platform: ScriptedPlatform, client: GuardedClient, host: str, kind: str
) -> None:
    platform.route().respond(200, json={})

    with pytest.raises(UnsafeURLError) as caught:
        await client.get(f"https://{host}/.well-known/openid-configuration", purpose=Purpose.REGISTRATION)

    assert kind in caught.value.reason
    assert not platform.calls


async def test_refuses_a_name_when_any_of_its_addresses_is_blocked(platform: ScriptedPlatform) -> None:
    platform.route().respond(200, json={})
    dns = FakeDNS({"mixed.test": [PUBLIC_IP, "10.0.0.7"]})

    async with platform.client(resolver=dns) as client:
        with pytest.raises(UnsafeURLError) as caught:
            await client.get("https://mixed.test/config", purpose=Purpose.REGISTRATION)

    assert "10.0.0.7" in caught.value.reason
    assert not platform.calls


@pytest.mark.parametrize("host", ["2130706433", "127.1", "0x7f.0.0.1"])
async def test_numeric_host_spellings_are_read_as_addresses_never_resolved(
    platform: ScriptedPlatform, host: str
) -> None:
    platform.route().respond(200, json={})

    # A resolver that knows no name: the address comes from the spelling itself, as browsers read it.
    async with platform.client(resolver=FakeDNS()) as client:
        with pytest.raises(UnsafeURLError) as caught:
            await client.get(f"https://{host}/config", purpose=Purpose.REGISTRATION)

    assert "loopback" in caught.value.reason
    assert not platform.calls


async def test_an_unresolvable_host_is_a_connection_error(platform: ScriptedPlatform, client: GuardedClient) -> None:
    platform.route().respond(200, json={})

    with pytest.raises(OutboundConnectionError) as caught:
        await client.get("https://nowhere.test/config", purpose=Purpose.REGISTRATION)

    assert "nowhere.test" in caught.value.reason
    assert not platform.calls


async def test_a_public_host_is_fetched(platform: ScriptedPlatform, client: GuardedClient) -> None:
    platform.get("https://platform.test/config").respond(200, json={"issuer": "https://platform.test"})

    response = await client.get("https://platform.test/config", purpose=Purpose.REGISTRATION)

    assert response.is_success
    assert response.json() == {"issuer": "https://platform.test"}
    assert response.url == "https://platform.test/config"


async def test_error_messages_leave_out_query_strings_and_headers(platform: ScriptedPlatform) -> None:
    platform.get("https://platform.test/slow").respond(200, json={}, delay=2)

    async with platform.client(read_timeout=0.2) as client:
        with pytest.raises(UnsafeURLError) as blocked:
            await client.get("https://10.0.0.1/register?registration_token=SECRET-TOKEN", purpose=Purpose.REGISTRATION)
        with pytest.raises(OutboundTimeoutError) as timed_out:
            await client.get(
                "https://platform.test/slow?registration_token=SECRET-TOKEN",
                purpose=Purpose.REGISTRATION,
                headers={"Authorization": "Bearer SECRET-TOKEN"},
            )

    for error in (blocked.value, timed_out.value):
        assert "SECRET-TOKEN" not in str(error)
        assert "SECRET-TOKEN" not in error.url
        assert "registration_token" not in error.url


# --- The SSRF table: every spelling of an internal address, as a URL, behind a name, after a redirect ---


@pytest.mark.parametrize(("host", "address", "kind"), SSRF_TABLE)
async def test_every_spelling_of_an_internal_address_is_refused_before_any_request(
    platform: ScriptedPlatform, host: str, address: str, kind: str
) -> None:
    platform.route().respond(200, json={})

    for insecure in (False, True):
        async with platform.client(allow_insecure=insecure) as client:
            if insecure and kind not in ALWAYS_REFUSED:
                continue
            with pytest.raises(UnsafeURLError) as caught:
                await client.get(f"https://{host}/config", purpose=Purpose.REGISTRATION)
            assert kind in caught.value.reason

    assert not platform.calls


@pytest.mark.parametrize(("host", "address", "kind"), SSRF_TABLE)
async def test_a_name_that_resolves_to_an_internal_address_is_refused(
    platform: ScriptedPlatform, host: str, address: str, kind: str
) -> None:
    platform.route().respond(200, json={})
    dns = FakeDNS({"innocent.test": [address], "innocent.test.": [address]})

    async with platform.client(resolver=dns) as client:
        for name in ("innocent.test", "innocent.test.", "INNOCENT.test"):
            with pytest.raises((UnsafeURLError, OutboundConnectionError)) as caught:
                await client.get(f"https://{name}/config", purpose=Purpose.REGISTRATION)
            if name != "INNOCENT.test":  # httpx lowercases the host; the fake resolver has no other case
                resolved = ipaddress.ip_address(address)
                assert f"resolves to {resolved}" in caught.value.reason and kind in caught.value.reason

    assert not platform.calls


# A Location header is ASCII: the ideographic full stops cannot be sent in one.
@pytest.mark.parametrize(("host", "address", "kind"), [row for row in SSRF_TABLE if row[0].isascii()])
async def test_a_redirect_to_an_internal_address_is_refused(
    platform: ScriptedPlatform, client: GuardedClient, host: str, address: str, kind: str
) -> None:
    platform.get("https://platform.test/start").respond(302, headers={"Location": f"https://{host}/latest/meta-data"})

    with pytest.raises(UnsafeURLError) as caught:
        await client.get("https://platform.test/start", purpose=Purpose.REGISTRATION)

    assert kind in caught.value.reason
    assert len(platform.calls) == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://platform.test@127.0.0.1/config", "credentials"),
        ("https://platform.test:443@127.0.0.1/config", "credentials"),
        ("https://platform.test\\@127.0.0.1/config", "credentials"),
        ("https://127.0.0.1%2f@platform.test/config", "credentials"),
        ("https://127.0.0.1#@platform.test/config", "loopback"),
        ("https://127.0.0.1?@platform.test/config", "loopback"),
        ("https://127.0.0.1\\.platform.test/config", "not valid"),
        ("https://[::1", "not valid"),
        ("https://[::1]x/config", "not valid"),
        ("https://[zz::1]/config", "not valid"),
        ("https://[::1]:99999/config", "port is out of range"),
        ("https://platform.test:0/config", "port is out of range"),
        ("https://xn--/config", "not valid"),
        ("https://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/config", "not valid"),
        ("https://exa mple.test/config", "not valid"),
        ("https://exa%00mple.test/config", "not valid"),
        ("https://platform..test/config", "not valid"),
        ("https://-platform.test/config", "not valid"),
        ("https://" + "a" * 64 + ".test/config", "not valid"),
        ("https://1.2.3.4.5/config", "not a valid IPv4"),
        ("https://platform.123/config", "not a valid IPv4"),
        ("https://256.1/config", "not a valid IPv4"),
        ("https://4294967296/config", "not a valid IPv4"),
        ("https://0177.0.0.1/config", "not valid"),
        ("https://127.000.000.001/config", "not valid"),
        ("https:platform.test/config", "absolute"),
        ("//platform.test/config", "absolute"),
    ],
)
async def test_malformed_urls_and_userinfo_tricks_are_clear_refusals(
    platform: ScriptedPlatform, client: GuardedClient, url: str, reason: str
) -> None:
    platform.route().respond(200, json={})

    with pytest.raises(UnsafeURLError) as caught:
        await client.get(url, purpose=Purpose.REGISTRATION)

    assert reason in caught.value.reason
    assert not platform.calls


async def test_a_resolver_answer_that_is_not_an_address_is_a_connection_error(platform: ScriptedPlatform) -> None:
    platform.route().respond(200, json={})

    async with platform.client(resolver=FakeDNS({"odd.test": ["not-an-address"]})) as client:
        with pytest.raises(OutboundConnectionError):
            await client.get("https://odd.test/config", purpose=Purpose.REGISTRATION)

    assert not platform.calls
