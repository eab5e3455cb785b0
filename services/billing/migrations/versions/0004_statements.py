"""bank statements: their incoming payments, and the tax ids of client cards (to know the payer)

Revision ID: 0004_statements
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from mercator.common.db import Exact

revision = "0004_statements"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tax_id", sa.String(length=20), nullable=True))
        batch_op.create_index("ix_clients_tax_id", ["tax_id"])
    op.create_table(
        "statement_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entry_key", sa.String(length=300), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("account", sa.String(length=50), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("amount", Exact(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payer_name", sa.String(length=300), nullable=True),
        sa.Column("payer_tax_id", sa.String(length=20), nullable=True),
        sa.Column("payer_account", sa.String(length=50), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("document_number", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("matched_by", sa.Uuid(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_lines")),
        sa.UniqueConstraint("entry_key", name=op.f("uq_statement_lines_entry_key")),
    )
    op.create_index("ix_statement_lines_status", "statement_lines", ["status", "booked_on"])


def downgrade() -> None:
    op.drop_index("ix_statement_lines_status", table_name="statement_lines")
    op.drop_table("statement_lines")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_index("ix_clients_tax_id")
        batch_op.drop_column("tax_id")
