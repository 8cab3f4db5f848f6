"""Settings from the environment: the development key file, production strictness, bad values."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from broker.settings import Settings, SettingsError


def test_development_key_is_generated_once_with_owner_only_permissions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    first = Settings.from_environ({})
    key_file = tmp_path / ".broker-secret-key"
    assert key_file.exists() and stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert "BROKER_SECRET_KEY is not set" in caplog.text
    assert first.secret_key not in caplog.text
    assert Settings.from_environ({}).secret_key == first.secret_key


def test_production_without_a_secret_key_is_a_startup_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match="BROKER_SECRET_KEY"):
        Settings.from_environ({"BROKER_ENV": "production"})
    assert not (tmp_path / ".broker-secret-key").exists()


@pytest.mark.parametrize(
    "environ",
    [
        {"BROKER_SECRET_KEY": "short"},
        {"BROKER_BASE_URL": "not a url"},
        {"BROKER_BASE_URL": "https://lti.example.com/?x=1"},
        {"BROKER_WEBHOOK_RETRY_DELAYS": "5,soon"},
        {"BROKER_OUTBOUND_TIMEOUT": "30"},
        {"BROKER_REDIS_URL": "127.0.0.1:6379"},
        {"BROKER_PUBLIC_RATE_LIMIT": "0"},
        {"BROKER_ATTEMPT_RETENTION_DAYS": "-1"},
        {"BROKER_TENANT_DOMAIN": "lti.example.com:8443"},
        {"BROKER_TENANT_DOMAIN": "https://lti.example.com"},
        {"BROKER_TENANT_DOMAIN": "lti_tools.example.com"},
        {"BROKER_TENANT_DOMAIN": "localhost"},
        {"BROKER_LOG_FORMAT": "yaml"},
    ],
)
def test_bad_values_are_refused_with_the_setting_named(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=next(iter(environ))):
        Settings.from_environ({"BROKER_SECRET_KEY": "k" * 40, **environ})


PRODUCTION = {"BROKER_ENV": "production", "BROKER_SMTP_URL": "smtp://mail.example.com"}


@pytest.mark.parametrize(
    ("environ", "log_format"),
    [
        ({}, "text"),
        (PRODUCTION, "json"),
        ({**PRODUCTION, "BROKER_LOG_FORMAT": "text"}, "text"),
        ({"BROKER_LOG_FORMAT": " JSON "}, "json"),
    ],
)
def test_logs_are_json_in_production_unless_told_otherwise(environ: dict[str, str], log_format: str) -> None:
    assert Settings.from_environ({"BROKER_SECRET_KEY": "k" * 40, **environ}).log_format == log_format


def test_values_are_read() -> None:
    settings = Settings.from_environ(
        {
            "BROKER_SECRET_KEY": "k" * 40,
            "BROKER_BASE_URL": "https://lti.example.com:8443/",
            "BROKER_ALLOW_INSECURE_PLATFORMS": "1",
            "BROKER_WEBHOOK_RETRY_DELAYS": "1,2,3",
            "BROKER_REDIS_URL": "redis://127.0.0.1:6379/0",
            "BROKER_REGISTRATION_FETCH_LIMIT": "4",
            "BROKER_ATTEMPT_RETENTION_DAYS": "7",
            "BROKER_TENANT_DOMAIN": "LTI.Example.com.",
        }
    )
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.registration_fetch_limit == 4 and settings.attempt_retention_days == 7
    assert settings.tenant_domain == "lti.example.com" and settings.base_host == "lti.example.com"
    assert settings.base_url == "https://lti.example.com:8443"
    assert settings.domain == "lti.example.com:8443"
    assert settings.allow_insecure_platforms and settings.webhook_retry_delays == (1, 2, 3)
    assert settings.tenant_url("acme", "/lti/register") == "https://lti.example.com:8443/t/acme/lti/register"
