"""a deal line's share of an agreed price (an accepted offer re-prices the lines)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 13:30:00
"""

import sqlalchemy as sa
from alembic import op

import mercator.common.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deal_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agreed_total", mercator.common.db.Exact(precision=20, scale=4), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deal_lines", schema=None) as batch_op:
        batch_op.drop_column("agreed_total")
