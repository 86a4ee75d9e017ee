"""console security: login failures per account and client (with back-off); call-back numbers left after hours,
encrypted and retention-limited

Revision ID: 0009_console_security
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_console_security"
down_revision = "0005_console"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "console_login_failures",
        sa.Column("key", sa.String(160), primary_key=True),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("strikes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", TZ, nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_console_login_failures_user_name", "console_login_failures", ["user_name"])
    op.create_index("ix_console_login_failures_updated_at", "console_login_failures", ["updated_at"])
    op.create_table(
        "handoff_callbacks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("handoff_tickets.id", ondelete="CASCADE"), nullable=True),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("masked", sa.String(32), nullable=False),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_handoff_callbacks_conversation_id", "handoff_callbacks", ["conversation_id"])
    op.create_index("ix_handoff_callbacks_created_at", "handoff_callbacks", ["created_at"])


def downgrade():
    op.drop_table("handoff_callbacks")
    op.drop_table("console_login_failures")
