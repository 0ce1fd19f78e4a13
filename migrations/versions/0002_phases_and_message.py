"""timer phase thresholds and the room message

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timers") as batch:
        batch.add_column(sa.Column("warn_at_ms", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("danger_at_ms", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(
            sa.Column("message_text", sa.String(200), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("message_visible", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("message_blackout", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("message_updated_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("message_updated_at")
        batch.drop_column("message_blackout")
        batch.drop_column("message_visible")
        batch.drop_column("message_text")
    with op.batch_alter_table("timers") as batch:
        batch.drop_column("danger_at_ms")
        batch.drop_column("warn_at_ms")
