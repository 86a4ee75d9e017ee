"""insights: classified resident messages, their groups, feedback on answers, editors' tasks, reader position

Revision ID: 0008_insights
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_insights"
down_revision = "0001_core"
branch_labels = ("insights",)
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "insights_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
    )
    op.create_table(
        "insights_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.BigInteger, nullable=False, unique=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("week", sa.String(10), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("intent", sa.String(100), nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("unhelpful", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("program", sa.String(128), nullable=True),
        sa.Column("aspect", sa.String(64), nullable=True),
        sa.Column("model_id", sa.String(64), nullable=True),
        sa.Column("group_id", sa.Integer, nullable=True),
    )
    op.create_index("ix_insights_messages_at", "insights_messages", ["at"])
    op.create_index("ix_insights_messages_week", "insights_messages", ["week"])
    op.create_index("ix_insights_messages_group_id", "insights_messages", ["group_id"])
    op.create_table(
        "insights_groups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("first_seen", TZ, nullable=False),
        sa.Column("last_seen", TZ, nullable=False),
        sa.Column("action", sa.String(32), nullable=True),
        sa.Column("action_detail", sa.Text, nullable=True),
        sa.Column("acted_by", sa.String(64), nullable=True),
        sa.Column("acted_at", TZ, nullable=True),
        sa.Column("replay_model", sa.String(255), nullable=True),
        sa.Column("replay_at", TZ, nullable=True),
        sa.Column("replay_total", sa.Integer, nullable=True),
        sa.Column("replay_answered", sa.Integer, nullable=True),
    )
    op.create_index("ix_insights_groups_last_seen", "insights_groups", ["last_seen"])
    op.create_table(
        "insights_feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("conversation_hash", sa.String(64), nullable=False),
        sa.Column("answer_event_id", sa.BigInteger, nullable=False),
        sa.Column("question_event_id", sa.BigInteger, nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("helpful", sa.Boolean, nullable=False),
        sa.Column("missing", sa.Text, nullable=True),
        sa.Column("program", sa.String(128), nullable=True),
        sa.Column("aspect", sa.String(64), nullable=True),
        sa.Column("locality", sa.String(64), nullable=True),
        sa.Column("model_id", sa.String(64), nullable=True),
        sa.UniqueConstraint("conversation_hash", "answer_event_id", name="uq_insights_feedback"),
    )
    op.create_index("ix_insights_feedback_created_at", "insights_feedback", ["created_at"])
    op.create_table(
        "insights_tasks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("group_id", sa.Integer, nullable=True),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("done_at", TZ, nullable=True),
    )


def downgrade():
    op.drop_table("insights_tasks")
    op.drop_index("ix_insights_feedback_created_at", "insights_feedback")
    op.drop_table("insights_feedback")
    op.drop_index("ix_insights_groups_last_seen", "insights_groups")
    op.drop_table("insights_groups")
    op.drop_index("ix_insights_messages_group_id", "insights_messages")
    op.drop_index("ix_insights_messages_week", "insights_messages")
    op.drop_index("ix_insights_messages_at", "insights_messages")
    op.drop_table("insights_messages")
    op.drop_table("insights_state")
