"""Platform access tokens cached per registration and scope set, shared by every broker process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broker.database import Base, utcnow


class PlatformToken(Base):
    """The last access token a platform granted for one scope set; the token is encrypted at rest."""

    __tablename__ = "platform_tokens"
    __table_args__ = (UniqueConstraint("registration_id", "scope_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    # SHA-256 of the sorted, space-joined scopes: scope URLs are long, and the set is what identifies a token.
    scope_key: Mapped[str] = mapped_column(String(64))
    access_token_encrypted: Mapped[str] = mapped_column(Text)
    token_type: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column()
    # Handed out until this time, shortly before `expires_at`, so a tool never receives an almost-dead token.
    usable_until: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
