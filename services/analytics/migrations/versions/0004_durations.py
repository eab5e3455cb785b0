"""aggregates of deal durations (whole days per close month, manager, department, status) and of the time in
each stage (per month of the step out of it)

Revision ID: 0004_durations
Revises: 0003_aggregates
Create Date: 2026-11-27 20:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_durations"
down_revision = "0003_aggregates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agg_deal_durations",
        sa.Column("cell", sa.String(length=32), nullable=False),
        sa.Column("month", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("deals", sa.Integer(), nullable=False),
        sa.Column("microseconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cell", name=op.f("pk_agg_deal_durations")),
    )
    op.create_index("ix_agg_deal_durations_month", "agg_deal_durations", ["month"], unique=False)
    op.create_table(
        "agg_deal_duration_totals",
        sa.Column("cell", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("deals", sa.Integer(), nullable=False),
        sa.Column("microseconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cell", name=op.f("pk_agg_deal_duration_totals")),
    )
    op.create_table(
        "agg_stage_times",
        sa.Column("cell", sa.String(length=32), nullable=False),
        sa.Column("month", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("stage", sa.String(length=50), nullable=False),
        sa.Column("exits", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cell", name=op.f("pk_agg_stage_times")),
    )


def downgrade() -> None:
    op.drop_table("agg_stage_times")
    op.drop_table("agg_deal_duration_totals")
    op.drop_index("ix_agg_deal_durations_month", table_name="agg_deal_durations")
    op.drop_table("agg_deal_durations")
