"""The services of one broker process: created once (by `broker.app.create_services`), reached by request
handlers through `services()`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    # Types only: route modules inside the domain packages import this module, so it imports none of them
    # (broker.app builds the services).
    from broker.database import Database
    from broker.http_client import GuardedClient, WebhookPoster
    from broker.key_rotation import KeyRotationService
    from broker.launch.deep_linking_service import DeepLinkingService
    from broker.launch.service import LaunchService
    from broker.limits.api import ApiLimits
    from broker.limits.public import PublicLimits
    from broker.limits.store import LimitStore
    from broker.mail import Mailer
    from broker.registration.service import RegistrationService
    from broker.settings import Settings
    from broker.tokens.service import TokenService
    from tenants.accounts.service import AccountService
    from tenants.api_keys import ApiKeyService
    from tenants.encryption import SecretBox
    from tenants.key_pool import KeyPool
    from tenants.keys import KeyRing
    from tenants.services import TenantService


@dataclass
class Services:
    """Everything a request handler, the CLI or the background loop may need, created once per process."""

    settings: Settings
    database: Database
    client: GuardedClient
    poster: WebhookPoster  # webhook posts
    secret_box: SecretBox
    key_ring: KeyRing
    key_pool: KeyPool
    tenants: TenantService
    registrations: RegistrationService
    launches: LaunchService
    deep_linking: DeepLinkingService
    tokens: TokenService
    api_keys: ApiKeyService
    key_rotation: KeyRotationService
    limit_store: LimitStore
    api_limits: ApiLimits
    public_limits: PublicLimits
    mailer: Mailer
    accounts: AccountService

    async def close(self) -> None:
        await self.key_pool.close()
        await self.client.aclose()
        await self.poster.aclose()
        await self.limit_store.close()
        await self.database.dispose()


def services(connection: HTTPConnection) -> Services:
    """The running application's services (set by its lifespan), for a request or a websocket."""
    found: Services = connection.app.state.services
    return found

