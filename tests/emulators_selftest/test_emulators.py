"""Self-tests of the platform emulators: each one serves its document, accepts a correct registration
with its own answer shape, and refuses what the platform it names is known to refuse (docs/platforms.md)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.emulators import EMULATORS, REMOVE, PlatformEmulator
from tests.emulators.rules import PLATFORM_CONFIG_KEY, TOOL_CONFIG_KEY
from tests.emulators_selftest.conftest import TOOL, registration_request, with_tool_config

DEPLOYMENT_IN_TOOL_CONFIG = {"moodle", "sakai", "brightspace", "generic", "schoology"}
SUCCESS_STATUS = {"generic": 201}


def initiate(client: httpx.Client, emulator: PlatformEmulator) -> tuple[dict[str, str], dict[str, Any]]:
    """Step 1 and 2: initiation parameters and the configuration document fetched as given."""
    params = emulator.registration_initiation_params()
    answer = client.get(params["openid_configuration"])
    assert answer.status_code == 200, answer.text
    return params, answer.json()


def register(
    client: httpx.Client,
    config: dict[str, Any],
    params: dict[str, str],
    body: Any,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Step 3 as a correct tool does it: Bearer only when a token was given."""
    sent = {"Content-Type": "application/json"}
    if "registration_token" in params:
        sent["Authorization"] = f"Bearer {params['registration_token']}"
    sent.update(headers or {})
    return client.post(config["registration_endpoint"], content=json.dumps(body), headers=sent)


def start(client: httpx.Client, make_emulator: Any, name: str, **knobs: Any) -> Any:
    emulator = make_emulator(name, **knobs)
    params, config = initiate(client, emulator)
    return emulator, params, config


# ----- all
@pytest.mark.parametrize("name", sorted(EMULATORS))
def test_valid_registration_is_accepted(
    client: httpx.Client, make_emulator: Any, jwks_url: str, name: str
) -> None:
    emulator, params, config = start(client, make_emulator, name)
    assert config["issuer"] == emulator.issuer
    platform_config = config[PLATFORM_CONFIG_KEY]
    assert platform_config["product_family_code"] == emulator.product_family_code

    answer = register(client, config, params, registration_request(jwks_uri=jwks_url))

    assert answer.status_code == SUCCESS_STATUS.get(name, 200), answer.text
    body = answer.json()
    assert body["client_id"]
    tool_config = body[TOOL_CONFIG_KEY]
    assert ("deployment_id" in tool_config) == (name in DEPLOYMENT_IN_TOOL_CONFIG)
    assert "deployment_id" not in body
    assert emulator.registrations == [body]
    assert len(emulator.configuration_requests) == 1
    assert emulator.registration_requests[0].json == registration_request(jwks_uri=jwks_url)


@pytest.mark.parametrize("name", sorted(EMULATORS))
def test_registration_token_is_single_use(
    client: httpx.Client, make_emulator: Any, jwks_url: str, name: str
) -> None:
    emulator, params, config = start(client, make_emulator, name)
    first = register(client, config, params, registration_request(jwks_uri=jwks_url))
    assert first.is_success
    again = registration_request(jwks_uri=jwks_url, client_name="Another Tool")
    second = register(client, config, params, again)
    if name == "canvas":  # Canvas keeps no record of used tokens (unverified)
        assert second.is_success and second.json()["client_id"] != first.json()["client_id"]
    else:
        assert second.status_code in (401, 403)
        assert len(emulator.registrations) == 1


@pytest.mark.parametrize("name", sorted(set(EMULATORS) - {"blackboard"}))
def test_registration_token_expires_after_an_hour(
    client: httpx.Client, make_emulator: Any, jwks_url: str, name: str
) -> None:
    emulator, params, config = start(client, make_emulator, name)
    emulator.advance_clock(3601)
    answer = register(client, config, params, registration_request(jwks_uri=jwks_url))
    assert answer.status_code in (401, 403, 500)
    assert emulator.registrations == []


@pytest.mark.parametrize("name", sorted(EMULATORS))
def test_forced_answers_and_patches(client: httpx.Client, make_emulator: Any, name: str) -> None:
    emulator = make_emulator(name, config_patch={"jwks_uri": REMOVE, "extra": 1})
    emulator.platform_config_patch = {"product_family_code": "patched"}
    params, config = initiate(client, emulator)
    assert "jwks_uri" not in config and config["extra"] == 1
    assert config[emulator.platform_config_key]["product_family_code"] == "patched"

    emulator.registration_response = (418, b"teapot", "text/plain")
    answer = register(client, config, params, {})
    assert (answer.status_code, answer.text) == (418, "teapot")
    emulator.config_response = (503, b"<html>down</html>", "text/html")
    down = client.get(params["openid_configuration"])
    assert down.status_code == 503 and down.headers["content-type"] == "text/html"


def test_delays_are_real(client: httpx.Client, make_emulator: Any) -> None:
    emulator = make_emulator("generic", config_delay=0.3)
    with pytest.raises(httpx.ReadTimeout):
        client.get(emulator.registration_initiation_params()["openid_configuration"], timeout=0.05)


def test_initiation_url_keeps_the_tools_own_query(make_emulator: Any) -> None:
    emulator = make_emulator("canvas")
    url = emulator.initiation_url("https://broker.example/t/acme/lti/register?code=42")
    query = httpx.URL(url).params
    assert query["code"] == "42" and "registration_token" in query
    token = emulator.find_token(query["registration_token"])
    assert token is not None and token.claims["registration_url"].endswith("code=42")


# ----- Moodle
def test_moodle_layout_and_answer(client: httpx.Client, make_emulator: Any) -> None:
    emulator, params, config = start(client, make_emulator, "moodle")
    assert emulator.issuer.endswith("/moodle")
    assert config["registration_endpoint"] == emulator.issuer + "/mod/lti/openid-registration.php"
    assert config[PLATFORM_CONFIG_KEY]["messages_supported"] == [
        "LtiResourceLinkRequest",
        "LtiDeepLinkingRequest",
    ]
    assert config[PLATFORM_CONFIG_KEY]["placements"] == ["AddContentMenu"]
    assert params["registration_token"].count(".") == 2

    request = registration_request()
    request[TOOL_CONFIG_KEY]["custom_parameters"] = {"a": "x=y"}
    answer = register(client, config, params, request)
    assert answer.status_code == 200 and "\\/" in answer.text  # PHP json_encode escapes slashes
    tool_config = answer.json()[TOOL_CONFIG_KEY]
    assert tool_config["messages"] == [
        {"type": "LtiDeepLinkingRequest", "target_link_uri": request["redirect_uris"][0]}
    ]
    assert tool_config["custom_parameters"] == {"a": "x"}  # key=value line storage
    assert tool_config["version"] == "1.3.0" and tool_config["deployment_id"].isdigit()
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem" in answer.json()["scope"].split()


@pytest.mark.parametrize(
    ("change", "status", "text"),
    [
        ({"client_name": ""}, 400, "missing required attribute client_name"),
        ({"redirect_uris": []}, 400, "missing required attribute redirect_uris"),
        ({"jwks_uri": "0"}, 400, "missing required attribute jwks_uri"),
        ({TOOL_CONFIG_KEY: {}}, 400, f"missing required attribute {TOOL_CONFIG_KEY}"),
        ({"response_types": ["code"]}, 400, "invalid_response_types"),
        ({"redirect_uris": "https://tool.example.com/lti/launch"}, 400, "invalid_redirect_uris"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, 400, "invalid_token_endpoint_auth_method"),
        ({"application_type": "native"}, 400, "invalid_application_type"),
        ({"response_types": "id_token"}, 500, None),
    ],
)
def test_moodle_refusals(
    client: httpx.Client, make_emulator: Any, change: dict[str, Any], status: int, text: str | None
) -> None:
    _emulator, params, config = start(client, make_emulator, "moodle")
    answer = register(client, config, params, registration_request(**change))
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/plain")
    if text is not None:
        assert answer.text == text
    assert register(client, config, params, registration_request()).status_code == 200  # token not spent


@pytest.mark.parametrize(
    ("domain", "target", "accepted"),
    [
        ("tool.example.com", None, True),  # target defaults to https://<domain>
        ("www.tool.example.com", "https://tool.example.com/launch", True),
        ("tool.example.com", "https://www.tool.example.com/launch", True),
        ("tool.example.com:8443", "https://tool.example.com:8443/launch", True),
        ("tool.example.com", "https://tool.example.com:8443/launch", False),
        ("tool.example.com", "https://other.example.com/launch", False),
        ("", "https://tool.example.com/launch", None),
    ],
)
def test_moodle_domain_rule(
    client: httpx.Client, make_emulator: Any, domain: str, target: str | None, accepted: bool | None
) -> None:
    _emulator, params, config = start(client, make_emulator, "moodle")
    request = with_tool_config(registration_request(), domain=domain, target_link_uri=target)
    answer = register(client, config, params, request)
    expected = {
        True: (200, None),
        False: (400, "domain_targetlinkuri_mismatch"),
        None: (400, "missing_domain"),
    }
    status, text = expected[accepted]
    assert answer.status_code == status
    if text:
        assert answer.text == text
    else:
        assert answer.json()[TOOL_CONFIG_KEY]["domain"] == domain.removeprefix("www.")


def test_moodle_token_checks(client: httpx.Client, make_emulator: Any) -> None:
    _emulator, params, config = start(client, make_emulator, "moodle")
    body = registration_request()
    no_header = client.post(config["registration_endpoint"], json=body)
    assert (no_header.status_code, no_header.text) == (401, "missing_registration_token")
    lower = register(
        client, config, params, body, {"Authorization": "bearer " + params["registration_token"]}
    )
    assert (lower.status_code, lower.text) == (401, "missing_registration_token")
    assert register(client, config, params, body).status_code == 200
    again = register(client, config, params, body)
    assert (again.status_code, again.text) == (401, "token_already_used")


def _initiated_for(client: httpx.Client, emulator: Any, tool_url: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Initiation as the LMS starts it for a tool's registration URL (Moodle looks up tools by its domain)."""
    params = dict(parse_qsl(urlsplit(emulator.initiation_url(tool_url)).query))
    return params, client.get(params["openid_configuration"]).json()


def test_moodle_updates_the_tool_it_finds_by_domain(client: httpx.Client, make_emulator: Any) -> None:
    emulator = make_emulator("moodle")
    params, config = _initiated_for(client, emulator, TOOL + "/t/first/lti/register")
    first = register(client, config, params, registration_request()).json()
    emulator.update_existing_tool = True  # the admin accepts Moodle's offer to update the tool on that domain
    params, config = _initiated_for(client, emulator, TOOL + "/t/second/lti/register")
    second = register(client, config, params, registration_request(client_name="Second Tool")).json()
    assert second["client_id"] == first["client_id"] and second["client_name"] == "Second Tool"
    assert second[TOOL_CONFIG_KEY]["deployment_id"] == first[TOOL_CONFIG_KEY]["deployment_id"]
    assert len(emulator.tool_types) == 1
    other = "https://other-tool.example.com"
    params, config = _initiated_for(client, emulator, other + "/lti/register")
    request = with_tool_config(registration_request(), domain="other-tool.example.com", target_link_uri=other)
    third = register(client, config, params, request).json()
    assert third["client_id"] != first["client_id"] and len(emulator.tool_types) == 2


def test_moodle_refuses_an_update_of_an_unknown_tool(client: httpx.Client, make_emulator: Any) -> None:
    emulator = make_emulator("moodle")
    token = emulator.issue_token({"sub": "999", "scope": "reg-update"})
    params = emulator.initiation_params_for(token)
    config = client.get(params["openid_configuration"]).json()
    answer = register(client, config, params, registration_request())
    assert (answer.status_code, answer.text) == (400, "Unknown client")


# ----- Canvas
def test_canvas_layout(client: httpx.Client, make_emulator: Any) -> None:
    emulator, params, config = start(client, make_emulator, "canvas")
    issuer_host = httpx.URL(config["issuer"]).host
    assert httpx.URL(config["registration_endpoint"]).host != issuer_host
    assert (
        httpx.URL(params["openid_configuration"]).params["registration_token"] == params["registration_token"]
    )
    assert config["authorization_server"] == httpx.URL(emulator.base_url).netloc.decode()


def test_canvas_requires_the_token_in_the_configuration_query(
    client: httpx.Client, make_emulator: Any
) -> None:
    emulator = make_emulator("canvas")
    answer = client.get(emulator.configuration_url())
    assert answer.status_code == 401 and "registration_token" in answer.json()["error"]


def test_canvas_requires_a_user_agent(make_emulator: Any) -> None:
    emulator = make_emulator("canvas")
    url = emulator.registration_initiation_params()["openid_configuration"]
    with httpx.Client(trust_env=False) as bare:
        bare.headers.pop("user-agent")
        answer = bare.get(url)
    assert answer.status_code == 403 and answer.json()["errors"]
    assert emulator.requests[-1].headers.get("user-agent") is None


def test_canvas_answer_shape(client: httpx.Client, make_emulator: Any) -> None:
    emulator, params, config = start(client, make_emulator, "canvas")
    extra: dict[str, Any] = {"client_name#fr": "Outil", "unknown_field": 1}
    request = registration_request(**extra)
    request[TOOL_CONFIG_KEY]["messages"][0]["placements"] = ["course_navigation", "ContentArea"]
    answer = register(client, config, params, request)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "client_name#fr" not in body and "unknown_field" not in body and "deployment_id" not in body
    assert body["registration_client_uri"].startswith(emulator.alt_base_url)
    assert body["scope"].split()[-1] == "openid"
    assert body[TOOL_CONFIG_KEY]["https://canvas.instructure.com/lti/registration_config_url"]


def test_canvas_top_level_deployment_id_when_knob_set(client: httpx.Client, make_emulator: Any) -> None:
    _emulator, params, config = start(client, make_emulator, "canvas", create_deployment=True)
    body = register(client, config, params, registration_request()).json()
    assert body["deployment_id"] and "deployment_id" not in body[TOOL_CONFIG_KEY]


@pytest.mark.parametrize(
    "change",
    [
        {"application_type": "native"},
        {"grant_types": ["implicit"]},
        {"response_types": []},
        {"redirect_uris": []},
        {"initiate_login_uri": "not a uri"},
        {"jwks_uri": None},
        {"client_name": ""},
        {"token_endpoint_auth_method": "none"},
        {TOOL_CONFIG_KEY: {"domain": "tool.example.com", "messages": []}},  # claims required
        {"contacts": ["not-an-email"]},
    ],
)
def test_canvas_schema_refusals(client: httpx.Client, make_emulator: Any, change: dict[str, Any]) -> None:
    _emulator, params, config = start(client, make_emulator, "canvas")
    answer = register(client, config, params, registration_request(**change))
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert errors and all(isinstance(e, str) for e in errors)


@pytest.mark.parametrize(
    "tool_change",
    [
        {"domain": "https://tool.example.com"},
        {"domain": "tool.example.com/path"},
        {"custom_parameters": {"n": 1}},
        {"messages": [{"type": "LtiResourceLinkRequest", "placements": ["nowhere"]}]},
        {"messages": [{"type": "LtiFancyRequest"}]},
    ],
)
def test_canvas_tool_configuration_refusals(
    client: httpx.Client, make_emulator: Any, tool_change: dict[str, Any]
) -> None:
    _emulator, params, config = start(client, make_emulator, "canvas")
    answer = register(client, config, params, with_tool_config(registration_request(), **tool_change))
    assert answer.status_code == 422 and answer.json()["errors"]


def test_canvas_scope_rules(client: httpx.Client, make_emulator: Any) -> None:
    emulator, params, config = start(client, make_emulator, "canvas")
    with_openid = registration_request(scope="openid https://purl.imsglobal.org/spec/lti-ags/scope/score")
    answer = register(client, config, params, with_openid)
    assert answer.status_code == 422
    assert answer.json() == {"errors": [{"field": "scopes", "message": "cannot contain openid"}]}
    unknown = register(client, config, params, registration_request(scope="https://example.com/scope/x"))
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "scopes"
    emulator.reject_openid_scope = False
    accepted = register(client, config, params, with_openid)
    assert accepted.status_code == 200 and accepted.json()["scope"].split().count("openid") == 1


def test_canvas_token_and_host_checks(client: httpx.Client, make_emulator: Any) -> None:
    emulator, params, config = start(client, make_emulator, "canvas")
    body = json.dumps(registration_request())
    bearer = {"Authorization": f"Bearer {params['registration_token']}", "Content-Type": "application/json"}
    on_issuer_host = client.post(emulator.base_url + emulator.registration_path, content=body, headers=bearer)
    assert on_issuer_host.status_code == 404
    no_token = client.post(
        config["registration_endpoint"], content=body, headers={"Content-Type": "application/json"}
    )
    assert no_token.status_code == 401 and "errorMessage" in no_token.json()
    emulator.find_token(params["registration_token"]).claims.pop("uuid")
    partial = client.post(config["registration_endpoint"], content=body, headers=bearer)
    assert partial.json() == {"errorMessage": "JWT did not include expected contents"}


def test_canvas_reads_only_json_bodies(client: httpx.Client, make_emulator: Any) -> None:
    _emulator, params, config = start(client, make_emulator, "canvas")
    answer = register(client, config, params, registration_request(), {"Content-Type": "text/plain"})
    assert answer.status_code == 422 and "required" in answer.json()["errors"][0]


# ----- Sakai
def test_sakai_configuration_parameters(client: httpx.Client, make_emulator: Any) -> None:
    emulator = make_emulator("sakai")
    url = httpx.URL(emulator.registration_initiation_params()["openid_configuration"])
    for missing in ("clientId", "key", "issuerURL", "deploymentId"):
        answer = client.get(url.copy_remove_param(missing))
        assert (answer.status_code, answer.text) == (400, f"Missing {missing}")
    document = client.get(url.copy_set_param("issuerURL", "https://sakai.example.org")).json()
    assert document["issuer"] == "https://sakai.example.org"
    assert document["registration_endpoint"].endswith("/registration_endpoint/" + url.params["key"])
    assert document["scopes_supported"] == ["openid"]


def test_sakai_answer(client: httpx.Client, make_emulator: Any) -> None:
    _emulator, params, config = start(client, make_emulator, "sakai")
    client_id = httpx.URL(params["openid_configuration"]).params["clientId"]
    body = register(client, config, params, registration_request()).json()
    assert body["client_id"] == client_id
    assert body[TOOL_CONFIG_KEY]["deployment_id"] == "1"
    assert body["scope"] == registration_request()["scope"]  # echoed, nothing else checked


@pytest.mark.parametrize(
    ("headers", "change", "status", "text"),
    [
        ({"Authorization": "Basic abc"}, {}, 400, "invalid_authorization"),
        ({"Authorization": "Bearer a b"}, {}, 400, "invalid_authorization"),
        ({}, {"jwks_uri": None}, 400, "Missing initiate_login_uri, jwks_uri, redirect_uris"),
        ({}, {"redirect_uris": "https://tool.example.com/lti/launch"}, 400, None),
        ({"Authorization": "Bearer 123:wrong"}, {}, 403, ""),
    ],
)
def test_sakai_refusals(
    client: httpx.Client,
    make_emulator: Any,
    headers: dict[str, str],
    change: dict[str, Any],
    status: int,
    text: str | None,
) -> None:
    _emulator, params, config = start(client, make_emulator, "sakai")
    answer = register(client, config, params, registration_request(**change), headers)
    assert answer.status_code == status
    if text is not None:
        assert answer.text == text


def test_sakai_unknown_tool_and_bad_key(client: httpx.Client, make_emulator: Any) -> None:
    _emulator, params, config = start(client, make_emulator, "sakai")
    endpoint = httpx.URL(config["registration_endpoint"])
    bearer = {"Authorization": f"Bearer {params['registration_token']}"}
    body = registration_request()
    unknown = client.post(
        endpoint.copy_with(path=endpoint.path.rsplit("/", 1)[0] + "/999"), json=body, headers=bearer
    )
    assert (unknown.status_code, unknown.text) == (400, "Missing tool")
    bad = client.post(
        endpoint.copy_with(path=endpoint.path.rsplit("/", 1)[0] + "/x"), json=body, headers=bearer
    )
    assert (bad.status_code, bad.text) == (400, "Bad value for tool_key x")


# ----- Blackboard
def test_blackboard_document(client: httpx.Client, make_emulator: Any) -> None:
    emulator, params, config = start(client, make_emulator, "blackboard")
    assert set(params) == {"openid_configuration"}
    assert config["issuer"] == "https://blackboard.com"
    assert "version" not in config[PLATFORM_CONFIG_KEY]
    assert config[PLATFORM_CONFIG_KEY]["product_family_code"] == "BlackboardLearn"
    token = httpx.URL(config["registration_endpoint"]).params["registrationToken"]
    assert emulator.find_token(token) is not None
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in config["scopes_supported"]


def test_blackboard_kb_literal_keys(client: httpx.Client, make_emulator: Any) -> None:
    _emulator, _params, config = start(client, make_emulator, "blackboard", kb_literal_keys=True)
    assert "URL/spec/lti-platform-configuration" in config and PLATFORM_CONFIG_KEY not in config


def test_blackboard_token_never_expires_and_no_authorization_header(
    client: httpx.Client, make_emulator: Any
) -> None:
    emulator, params, config = start(client, make_emulator, "blackboard")
    emulator.advance_clock(30 * 86400)
    stray = register(client, config, params, registration_request(), {"Authorization": "Bearer None"})
    assert stray.status_code == 401 and stray.json()["status"] == 401
    answer = register(client, config, params, registration_request())
    assert answer.status_code == 200 and "deployment_id" not in answer.json()[TOOL_CONFIG_KEY]


def test_blackboard_refuses_spec_violations(client: httpx.Client, make_emulator: Any) -> None:
    _emulator, params, config = start(client, make_emulator, "blackboard")
    answer = register(client, config, params, registration_request(grant_types=["implicit"]))
    assert answer.status_code == 400 and "grant_types" in answer.json()["message"]


def test_blackboard_one_application_per_domain(client: httpx.Client, make_emulator: Any) -> None:
    emulator, params, config = start(client, make_emulator, "blackboard")
    assert register(client, config, params, registration_request()).status_code == 200
    params, config = initiate(client, emulator)
    again = register(client, config, params, registration_request(client_name="Another Tool"))
    assert again.status_code == 400 and "domain" in again.json()["message"]
    elsewhere = "https://other-tool.example.com"
    request = with_tool_config(registration_request(), domain="other-tool.example.com", target_link_uri=elsewhere)
    assert register(client, config, params, request).status_code == 200


# ----- Brightspace
def test_brightspace_token_travels_in_urls(client: httpx.Client, make_emulator: Any) -> None:
    _emulator, params, config = start(client, make_emulator, "brightspace")
    assert set(params) == {"openid_configuration"}
    token = httpx.URL(params["openid_configuration"]).params["token"]
    assert httpx.URL(config["registration_endpoint"]).params["token"] == token
    without = client.get(httpx.URL(params["openid_configuration"]).copy_remove_param("token"))
    assert without.status_code == 401


def test_brightspace_refuses_an_authorization_header(
    client: httpx.Client, make_emulator: Any, jwks_url: str
) -> None:
    _emulator, params, config = start(client, make_emulator, "brightspace")
    answer = register(
        client, config, params, registration_request(jwks_uri=jwks_url), {"Authorization": "Bearer None"}
    )
    assert answer.status_code == 401


def test_brightspace_keyset_must_be_reachable(
    client: httpx.Client, make_emulator: Any, jwks_url: str
) -> None:
    _emulator, params, config = start(client, make_emulator, "brightspace")
    for unreachable in (jwks_url.replace("/jwks.json", "/missing"), "https://tool.example.com/jwks.json"):
        answer = register(client, config, params, registration_request(jwks_uri=unreachable))
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_client_metadata"
        assert "keyset" in answer.json()["error_description"]


def test_brightspace_https_only(client: httpx.Client, make_emulator: Any, jwks_url: str) -> None:
    _emulator, params, config = start(client, make_emulator, "brightspace")
    request = registration_request(jwks_uri=jwks_url, initiate_login_uri="http://tool.example.com/login")
    assert register(client, config, params, request).status_code == 400


def test_brightspace_name_and_domain_uniqueness(
    client: httpx.Client, make_emulator: Any, jwks_url: str
) -> None:
    emulator = make_emulator("brightspace")

    def attempt(name: str) -> httpx.Response:
        params, config = initiate(client, emulator)
        return register(client, config, params, registration_request(jwks_uri=jwks_url, client_name=name))

    first = attempt("Tool A")
    assert first.status_code == 200
    assert attempt("Tool A").json()["error_description"].startswith("a registration named")
    assert attempt("Tool B").status_code == 200  # the first one is still disabled
    emulator.enable(first.json()["client_id"])
    refused = attempt("Tool C")
    assert refused.status_code == 400 and "domain" in refused.json()["error_description"]


# ----- generic, Schoology
@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
        ({"redirect_uris": ["not a url"]}, "invalid_redirect_uri"),
        ({"jwks": {"keys": []}}, "invalid_client_metadata"),
        ({"token_endpoint_auth_method": "client_secret_post"}, "invalid_client_metadata"),
    ],
)
def test_generic_rfc7591_errors(
    client: httpx.Client, make_emulator: Any, change: dict[str, Any], code: str
) -> None:
    _emulator, params, config = start(client, make_emulator, "generic")
    answer = register(client, config, params, registration_request(**change))
    assert answer.status_code == 400 and answer.json()["error"] == code and answer.json()["error_description"]


def test_generic_refuses_a_sent_deployment_id(client: httpx.Client, make_emulator: Any) -> None:
    _emulator, params, config = start(client, make_emulator, "generic")
    answer = register(client, config, params, with_tool_config(registration_request(), deployment_id="1"))
    assert answer.status_code == 400


def test_generic_token_and_status_knobs(client: httpx.Client, make_emulator: Any) -> None:
    emulator, params, config = start(client, make_emulator, "generic", registration_status=200)
    missing = client.post(config["registration_endpoint"], json=registration_request())
    assert missing.status_code == 401 and "invalid_token" in missing.headers["www-authenticate"]
    answer = register(client, config, params, registration_request(scope="openid https://x.example/s"))
    assert answer.status_code == 200 and answer.json()["scope"] == ""

    emulator.sends_registration_token = False
    params, config = initiate(client, emulator)
    assert "registration_token" not in params
    assert (
        register(client, config, params, registration_request(), {"Authorization": "Bearer x"}).status_code
        == 401
    )
    assert register(client, config, params, registration_request()).status_code == 200


def test_generic_wants_json_content_type(client: httpx.Client, make_emulator: Any) -> None:
    _emulator, params, config = start(client, make_emulator, "generic")
    answer = register(client, config, params, registration_request(), {"Content-Type": "text/plain"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_client_metadata"


def test_schoology_layout(client: httpx.Client, make_emulator: Any) -> None:
    _emulator, _params, config = start(client, make_emulator, "schoology")
    assert httpx.URL(config["issuer"]).host == "127.0.0.1"
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint"):
        assert httpx.URL(config[key]).host == "localhost" and "/lti-service/" in config[key]
    assert config[PLATFORM_CONFIG_KEY]["product_family_code"] == "schoology"
