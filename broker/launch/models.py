"""Launch state: the single-use `state` and `nonce` of each login, shared by every broker process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.database import Base


class LaunchState(Base):
    """One login initiation waiting for its launch; `used_at` is set once, by an atomic UPDATE.

    Keyed by an HMAC of the `state` value, so the table never holds a value that could finish a launch.
    """

    __tablename__ = "launch_states"
    __table_args__ = (Index(None, "expires_at"),)

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    registration_id: Mapped[str] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(64))
    target_link_uri: Mapped[str] = mapped_column(String(2048))
    lti_deployment_id: Mapped[str | None] = mapped_column(String(255))
    # The platform's `lti_storage_target` when the login offered its postMessage storage (client_storage.py).
    storage_target: Mapped[str | None] = mapped_column(String(255))
    # The host of the page that started the login (Origin or Referer), learnt when the launch completes.
    login_host: Mapped[str | None] = mapped_column(String(253))
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
