"""The exact platform endpoints that carry a secret-looking query value, encrypted (`endpoint_secrets`).

The endpoint columns then hold display copies with those values redacted. Null for every existing
registration: their columns still hold the exact endpoints, which the broker keeps using. Processes still
running the previous release read only the columns, so for a registration made after the upgrade whose
endpoints carry such a value they call the redacted URL and fail until they are stopped.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.add_column(sa.Column("endpoint_secrets", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.drop_column("endpoint_secrets")
