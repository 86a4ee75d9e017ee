"""console: staff accounts, login sessions, audit log, handoff tickets and staff messages

Revision ID: 0005_console
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_console"
down_revision = "0001_core"
branch_labels = ("console",)
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_login_at", TZ, nullable=True),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_seen_at", TZ, nullable=False),
    )
    op.create_index("ix_console_sessions_user_id", "console_sessions", ["user_id"])
    op.create_table(
        "console_audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_console_audit_at", "console_audit", ["at"])
    op.create_table(
        "handoff_tickets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False, server_default=""),
        sa.Column("office", sa.String(64), nullable=False, server_default=""),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("context", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("claimed_at", TZ, nullable=True),
        sa.Column("handed_back_at", TZ, nullable=True),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("outcome", sa.Text, nullable=True),
        sa.Column("resident_messages", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_resident_text", sa.Text, nullable=True),
        sa.Column("last_resident_at", TZ, nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_index("ix_handoff_tickets_conversation_id", "handoff_tickets", ["conversation_id"])
    op.create_index("ix_handoff_tickets_status", "handoff_tickets", ["status"])
    op.create_index("ix_handoff_tickets_updated_at", "handoff_tickets", ["updated_at"])
    op.create_table(
        "handoff_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("handoff_tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("delivered_at", TZ, nullable=True),
    )
    op.create_index("ix_handoff_messages_ticket_id", "handoff_messages", ["ticket_id"])


def downgrade():
    op.drop_table("handoff_messages")
    op.drop_table("handoff_tickets")
    op.drop_table("console_audit")
    op.drop_table("console_sessions")
    op.drop_table("console_users")
