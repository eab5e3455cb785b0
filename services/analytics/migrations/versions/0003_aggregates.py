"""aggregates the reports read (open and closed deals, funnel, client cards); a deal's stage probability and
furthest funnel position

Revision ID: 0003_aggregates
Revises: 0002_reports
Create Date: 2026-11-27 17:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_aggregates"
down_revision = "0002_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("probability", sa.Numeric(precision=6, scale=4), nullable=True))
        batch_op.add_column(sa.Column("reached", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("client_region_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("client_industry_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("client_source_id", sa.Uuid(), nullable=True))

    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clients_created_at"), ["created_at"], unique=False)

    op.create_table(
        "agg_client_silence",
        sa.Column("cell", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("last_day", sa.Date(), nullable=True),
        sa.Column("created_day", sa.Date(), nullable=True),
        sa.Column("clients", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("cell", name=op.f("pk_agg_client_silence")),
    )
    op.create_table(
        "agg_activities",
        sa.Column("cell", sa.String(length=32), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("cell", name=op.f("pk_agg_activities")),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deal_owner_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("deal_department_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("client_owner_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("client_department_id", sa.Uuid(), nullable=True))

    op.create_table(
        "agg_receivables",
        sa.Column("cell", sa.String(length=32), nullable=False),
        sa.Column("manager_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("invoices", sa.Integer(), nullable=False),
        sa.Column("outstanding", sa.Numeric(precision=24, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("cell", name=op.f("pk_agg_receivables")),
    )
    op.create_table(
        "agg_open_deals",
        sa.Column("cell", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("stage", sa.String(length=50), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("close_month", sa.Date(), nullable=True),
        sa.Column("deals", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=24, scale=2), nullable=False),
        sa.Column("weighted", sa.Numeric(precision=28, scale=6), nullable=False),
        sa.PrimaryKeyConstraint("cell", name=op.f("pk_agg_open_deals")),
    )
    op.create_table(
        "agg_closed_deals",
        sa.Column("cell", sa.String(length=32), nullable=False),
        sa.Column("month", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("lost_reason", sa.String(length=300), nullable=True),
        sa.Column("lost_at_stage", sa.String(length=50), nullable=True),
        sa.Column("deals", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=24, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("cell", name=op.f("pk_agg_closed_deals")),
    )
    op.create_table(
        "agg_funnel",
        sa.Column("cell", sa.String(length=32), nullable=False),
        sa.Column("month", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("furthest", sa.Integer(), nullable=False),
        sa.Column("deals", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("cell", name=op.f("pk_agg_funnel")),
    )
    op.create_table(
        "agg_client_cards",
        sa.Column("cell", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("clients", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("cell", name=op.f("pk_agg_client_cards")),
    )
    op.create_table(
        "agg_deal_segments",
        sa.Column("cell", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("key_id", sa.Uuid(), nullable=True),
        sa.Column("month", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("deals", sa.Integer(), nullable=False),
        sa.Column("won", sa.Integer(), nullable=False),
        sa.Column("won_amount", sa.Numeric(precision=24, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("cell", name=op.f("pk_agg_deal_segments")),
    )
    op.create_table(
        "agg_client_segments",
        sa.Column("cell", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("key_id", sa.Uuid(), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("month", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("in_base", sa.Boolean(), nullable=False),
        sa.Column("clients", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("cell", name=op.f("pk_agg_client_segments")),
    )


def downgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        for name in ("client_department_id", "client_owner_id", "deal_department_id", "deal_owner_id"):
            batch_op.drop_column(name)
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clients_created_at"))
    for name in (
        "agg_client_silence",
        "agg_activities",
        "agg_receivables",
        "agg_client_segments",
        "agg_deal_segments",
        "agg_client_cards",
        "agg_funnel",
        "agg_closed_deals",
        "agg_open_deals",
    ):
        op.drop_table(name)
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_column("client_source_id")
        batch_op.drop_column("client_industry_id")
        batch_op.drop_column("client_region_id")
        batch_op.drop_column("reached")
        batch_op.drop_column("probability")
