"""Settings read once from the environment (the names are part of the external contract)."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from broker.hostnames import HostnameError, normalise_hostname

logger = logging.getLogger("broker.settings")

DEFAULT_DATABASE_URL = "sqlite:///./broker.db"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_RETRY_DELAYS = (5, 300, 1800, 7200, 18000, 36000, 36000)
DEFAULT_API_RATE_LIMIT = 600
# Per client address a minute on the registration and launch pages: a school behind one NAT address starts a
# class's launches at once (two requests each), so the default leaves room for a few hundred people.
DEFAULT_PUBLIC_RATE_LIMIT = 600
DEFAULT_TENANT_RATE_LIMIT = 12_000
# Registration calls that make the broker call out (configuration fetch, registration, verification) per client
# address a minute; an LMS admin makes two or three per registration.
DEFAULT_REGISTRATION_FETCH_LIMIT = 10
DEFAULT_ATTEMPT_RETENTION_DAYS = 30
DEV_SECRET_KEY_FILE = ".broker-secret-key"  # noqa: S105 - a file name, not a secret
MIN_SECRET_KEY_LENGTH = 32
# The contract: every outbound call ends within 10 s, so a registration page always answers within 15 s.
MAX_OUTBOUND_TIMEOUT = 10.0
# Lines as JSON objects (what a log pipeline reads; the default in production) or as text (for a terminal).
LOG_FORMATS = ("json", "text")


def settings_of(connection: HTTPConnection) -> Settings:
    """The settings of the application serving a request; set when the app is made, so known before start-up
    (an error page can always be rendered). Everything else is reached through `broker.services.services`.
    """
    found: Settings = connection.app.state.settings
    return found


class SettingsError(Exception):
    """A setting is missing or malformed; the message says which and what to do."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    base_url: str = DEFAULT_BASE_URL
    secret_key: str = field(default="", repr=False)
    allow_insecure_platforms: bool = False
    webhook_retry_delays: tuple[int, ...] = DEFAULT_RETRY_DELAYS
    environment: str = "development"
    outbound_timeout: float = MAX_OUTBOUND_TIMEOUT
    # `broker serve` delivers webhooks and rotates keys in the background unless this is off (then run
    # `broker webhooks work` beside it).
    run_worker: bool = True
    api_rate_limit: int = DEFAULT_API_RATE_LIMIT  # requests per minute per API key
    key_rotation_days: int = 0  # rotate every tenant's signing key this often; 0: only when asked
    # Limits live in the database, or in Redis when this is set (see broker/limits/).
    redis_url: str = field(default="", repr=False)
    public_rate_limit: int = DEFAULT_PUBLIC_RATE_LIMIT  # registration and launch requests a minute per address
    tenant_rate_limit: int = DEFAULT_TENANT_RATE_LIMIT  # the same, per tenant
    registration_fetch_limit: int = DEFAULT_REGISTRATION_FETCH_LIMIT  # a minute per address; 6x per tenant
    # Outbound registration calls in flight at once, per client address and per tenant.
    registration_fetch_concurrency: tuple[int, int] = (2, 10)
    # /metrics answers only with this bearer token; without it, /metrics is off.
    metrics_token: str = field(default="", repr=False)
    # Attempts that never reached the platform (abandoned or refused before any registration call) are kept
    # this long, then deleted; attempts with a platform answer are kept.
    attempt_retention_days: int = DEFAULT_ATTEMPT_RETENTION_DAYS
    # Account mail (verification, password reset, invitations) goes over SMTP; without a server, development
    # keeps it in the operator console's outbox and production refuses to start.
    smtp_url: str = field(default="", repr=False)
    mail_from: str = ""
    # Each tenant served at <slug>.<tenant_domain> (scheme and port from base_url); empty: paths /t/<slug>/ only.
    tenant_domain: str = ""
    log_format: str = "text"  # json or text; see broker/logs.py

    @property
    def domain(self) -> str:
        """Host and port of the public base URL: the `domain` the broker registers with platforms."""
        return urlsplit(self.base_url).netloc

    @property
    def base_host(self) -> str:
        """The base URL's host name: the host that serves everything (the API, the consoles, /t/<slug>/ paths)."""
        return (urlsplit(self.base_url).hostname or "").lower()

    @property
    def mail_sender(self) -> str:
        """BROKER_MAIL_FROM, or no-reply at the base URL's host name."""
        host = urlsplit(self.base_url).hostname or "localhost"
        return self.mail_from or f"lti-broker <no-reply@{'localhost' if host.replace('.', '').isdigit() else host}>"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def tenant_url(self, slug: str, path: str = "") -> str:
        return f"{self.base_url}/t/{slug}{path}"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        environment = env.get("BROKER_ENV", "development").strip() or "development"
        return cls(
            database_url=env.get("BROKER_DATABASE_URL", DEFAULT_DATABASE_URL).strip() or DEFAULT_DATABASE_URL,
            base_url=_base_url(env.get("BROKER_BASE_URL", DEFAULT_BASE_URL)),
            secret_key=_secret_key(env.get("BROKER_SECRET_KEY", ""), environment),
            allow_insecure_platforms=_flag(env.get("BROKER_ALLOW_INSECURE_PLATFORMS", "")),
            webhook_retry_delays=_retry_delays(env.get("BROKER_WEBHOOK_RETRY_DELAYS", "")),
            environment=environment,
            outbound_timeout=_timeout(env.get("BROKER_OUTBOUND_TIMEOUT", "")),
            run_worker=_flag(env.get("BROKER_RUN_WORKER", "").strip() or "1"),
            api_rate_limit=_whole_number(env, "BROKER_API_RATE_LIMIT", DEFAULT_API_RATE_LIMIT, minimum=1),
            key_rotation_days=_whole_number(env, "BROKER_KEY_ROTATION_DAYS", 0, minimum=0),
            redis_url=_redis_url(env.get("BROKER_REDIS_URL", "")),
            metrics_token=env.get("BROKER_METRICS_TOKEN", "").strip(),
            public_rate_limit=_whole_number(env, "BROKER_PUBLIC_RATE_LIMIT", DEFAULT_PUBLIC_RATE_LIMIT, minimum=1),
            tenant_rate_limit=_whole_number(env, "BROKER_TENANT_RATE_LIMIT", DEFAULT_TENANT_RATE_LIMIT, minimum=1),
            registration_fetch_limit=_whole_number(
                env, "BROKER_REGISTRATION_FETCH_LIMIT", DEFAULT_REGISTRATION_FETCH_LIMIT, minimum=1
            ),
            attempt_retention_days=_whole_number(
                env, "BROKER_ATTEMPT_RETENTION_DAYS", DEFAULT_ATTEMPT_RETENTION_DAYS, minimum=1
            ),
            smtp_url=_smtp_url(env.get("BROKER_SMTP_URL", ""), environment),
            mail_from=env.get("BROKER_MAIL_FROM", "").strip(),
            tenant_domain=_tenant_domain(env.get("BROKER_TENANT_DOMAIN", "")),
            log_format=log_format_of(env),
        )


def log_format_of(env: Mapping[str, str]) -> str:
    """BROKER_LOG_FORMAT, else JSON in production and text elsewhere."""
    value = env.get("BROKER_LOG_FORMAT", "").strip().lower()
    if not value:
        return "json" if env.get("BROKER_ENV", "").strip() == "production" else "text"
    if value not in LOG_FORMATS:
        raise SettingsError(f"BROKER_LOG_FORMAT must be json or text; got {value!r}.")
    return value


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _base_url(value: str) -> str:
    url = value.strip().rstrip("/") or DEFAULT_BASE_URL
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(
            f"BROKER_BASE_URL must be an absolute http(s) URL with no query, such as "
            f"https://lti.example.com; got {value!r}."
        )
    return url


def _tenant_domain(value: str) -> str:
    if not value.strip():
        return ""
    try:
        return normalise_hostname(value)
    except HostnameError as error:
        raise SettingsError(
            f"BROKER_TENANT_DOMAIN must be a DNS name under which each tenant gets <slug>.<domain>, such as "
            f"lti.example.com: {error}."
        ) from error


def _timeout(value: str) -> float:
    if not value.strip():
        return MAX_OUTBOUND_TIMEOUT
    try:
        timeout = float(value)
    except ValueError:
        timeout = -1.0
    if not 0 < timeout <= MAX_OUTBOUND_TIMEOUT:
        raise SettingsError(f"BROKER_OUTBOUND_TIMEOUT must be seconds, above 0 and at most {MAX_OUTBOUND_TIMEOUT:g}.")
    return timeout


def _whole_number(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < minimum:
        raise SettingsError(f"{name} must be a whole number of at least {minimum}; got {value!r}.")
    return int(value)


def _retry_delays(value: str) -> tuple[int, ...]:
    if not value.strip():
        return DEFAULT_RETRY_DELAYS
    try:
        delays = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        delays = ()
    if not delays or any(delay < 0 for delay in delays):
        raise SettingsError(
            "BROKER_WEBHOOK_RETRY_DELAYS must be comma-separated non-negative seconds, such as 5,300,1800."
        )
    return delays


def _redis_url(value: str) -> str:
    url = value.strip()
    if url and urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
        raise SettingsError(
            "BROKER_REDIS_URL must look like redis://host:6379/0 (rediss:// for TLS); leave it unset to keep the "
            "limits in the database."
        )
    return url


def _smtp_url(value: str, environment: str) -> str:
    url = value.strip()
    if url and (urlsplit(url).scheme not in {"smtp", "smtps"} or not urlsplit(url).hostname):
        raise SettingsError(
            "BROKER_SMTP_URL must look like smtp://user:password@mail.example.com:587 (STARTTLS when offered) "
            "or smtps://user:password@mail.example.com:465."
        )
    if not url and environment == "production":
        raise SettingsError(
            "BROKER_SMTP_URL is not set. In production it is required: sign-up, password resets and invitations "
            "send mail. Set it to smtp://user:password@mail.example.com:587 (or smtps://…)."
        )
    return url


def _secret_key(value: str, environment: str) -> str:
    key = value.strip()
    if key:
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise SettingsError(
                f"BROKER_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters; generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
            )
        return key
    if environment == "production":
        raise SettingsError(
            "BROKER_SECRET_KEY is not set. In production it is required: it encrypts tenant keys and "
            "webhook secrets. Generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'` "
            "and keep it safe; losing it makes stored keys unreadable."
        )
    return _development_secret_key(Path(DEV_SECRET_KEY_FILE))


def _development_secret_key(path: Path) -> str:
    """A per-checkout key, made once and kept readable by its owner only."""
    key = secrets.token_urlsafe(48)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key)
    logger.warning(
        "BROKER_SECRET_KEY is not set: generated a development key in %s (mode 0600). "
        "Set BROKER_SECRET_KEY in any shared or production deployment.",
        path.resolve(),
    )
    return key
