"""The services of one broker process, created once and reached by request handlers through `services()`."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from broker.api.rate_limit import RateLimiter
from broker.database import Database
from broker.http_client import GuardedClient
from broker.launch.directory import LaunchDirectory
from broker.launch.platform_keys import PlatformKeys
from broker.launch.service import LaunchService
from broker.registration.service import RegistrationService
from broker.settings import Settings
from broker.tokens.service import TokenService
from tenants.api_keys import ApiKeyService
from tenants.encryption import SecretBox
from tenants.keys import KeyRing
from tenants.rotation import KeyRotationService
from tenants.services import TenantService

USER_AGENT = "lti-broker/0.1"


@dataclass
class Services:
    """Everything a request handler, the CLI or the background loop may need, created once per process."""

    settings: Settings
    database: Database
    client: GuardedClient
    secret_box: SecretBox
    key_ring: KeyRing
    tenants: TenantService
    registrations: RegistrationService
    launches: LaunchService
    tokens: TokenService
    api_keys: ApiKeyService
    key_rotation: KeyRotationService
    rate_limiter: RateLimiter

    @classmethod
    def create(cls, settings: Settings) -> Services:
        database = Database(settings.database_url)
        client = GuardedClient(
            user_agent=USER_AGENT,
            allow_insecure=settings.allow_insecure_platforms,
            total_timeout=settings.outbound_timeout,
            connect_timeout=min(5.0, settings.outbound_timeout),
            read_timeout=settings.outbound_timeout,
        )
        secret_box = SecretBox(settings.secret_key)
        key_ring = KeyRing(database, secret_box)
        return cls(
            settings=settings,
            database=database,
            client=client,
            secret_box=secret_box,
            key_ring=key_ring,
            tenants=TenantService(database, settings, secret_box, key_ring),
            registrations=RegistrationService(database, settings, client),
            launches=LaunchService(database, settings, key_ring, PlatformKeys(client), LaunchDirectory(database)),
            tokens=TokenService(database, settings, client, secret_box, key_ring),
            api_keys=ApiKeyService(database),
            key_rotation=KeyRotationService(database, settings, secret_box, key_ring),
            rate_limiter=RateLimiter(settings.api_rate_limit),
        )

    async def close(self) -> None:
        await self.client.aclose()
        await self.database.dispose()


def services(connection: HTTPConnection) -> Services:
    """The running application's services (set by its lifespan), for a request or a websocket."""
    found: Services = connection.app.state.services
    return found

