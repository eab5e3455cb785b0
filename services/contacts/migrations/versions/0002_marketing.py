"""marketing events, their participants and mailings

Revision ID: 0002_marketing
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_marketing"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "marketing_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("cost", sa.Numeric(18, 2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("organiser_id", sa.Uuid(), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("offer", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("audience_filter", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_events")),
    )
    with op.batch_alter_table("marketing_events") as batch_op:
        batch_op.create_index(batch_op.f("ix_marketing_events_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_marketing_events_organiser_id"), ["organiser_id"], unique=False)
        batch_op.create_index("ix_marketing_events_start", ["starts_on", "id"], unique=False)
    op.create_table(
        "marketing_participants",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_marketing_participants_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["marketing_events.id"], name=op.f("fk_marketing_participants_event_id_marketing_events")
        ),
        sa.PrimaryKeyConstraint("event_id", "company_id", name=op.f("pk_marketing_participants")),
    )
    with op.batch_alter_table("marketing_participants") as batch_op:
        batch_op.create_index(batch_op.f("ix_marketing_participants_company_id"), ["company_id"], unique=False)
    op.create_table(
        "marketing_mailings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("template_name", sa.String(length=300), nullable=True),
        sa.Column("offer", sa.Text(), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["marketing_events.id"], name=op.f("fk_marketing_mailings_event_id_marketing_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_mailings")),
    )
    with op.batch_alter_table("marketing_mailings") as batch_op:
        batch_op.create_index(batch_op.f("ix_marketing_mailings_event_id"), ["event_id"], unique=False)


def downgrade() -> None:
    op.drop_table("marketing_mailings")
    op.drop_table("marketing_participants")
    op.drop_table("marketing_events")
