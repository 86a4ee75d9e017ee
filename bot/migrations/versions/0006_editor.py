"""editor: history of knowledge edits and training runs

Revision ID: 0006_editor
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_editor"
down_revision = "0001_core"
branch_labels = ("editor",)
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "editor_revisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("entry_key", sa.String(160), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("entry_id", sa.String(128), nullable=False),
        sa.Column("file", sa.String(255), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("before_text", sa.Text, nullable=True),
        sa.Column("after_text", sa.Text, nullable=False),
        sa.Column("before_version", sa.String(32), nullable=True),
        sa.Column("after_version", sa.String(32), nullable=False),
        sa.Column("file_after", sa.Text, nullable=False),
        sa.Column("diff", sa.Text, nullable=False),
        sa.Column("needs_retraining", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("restored_from", sa.Integer, nullable=True),
        sa.Column("note", sa.String(255), nullable=True),
    )
    op.create_index("ix_editor_revisions_entry_key", "editor_revisions", ["entry_key"])
    op.create_index("ix_editor_revisions_created_at", "editor_revisions", ["created_at"])
    op.create_table(
        "editor_training_jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("active", sa.Integer, nullable=True, unique=True),
        sa.Column("started_by", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("stage", sa.String(64), nullable=False, server_default=""),
        sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
        sa.Column("log", sa.Text, nullable=False, server_default=""),
        sa.Column("model_path", sa.String(500), nullable=True),
        sa.Column("previous_model", sa.String(500), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )


def downgrade():
    op.drop_table("editor_training_jobs")
    op.drop_index("ix_editor_revisions_created_at", "editor_revisions")
    op.drop_index("ix_editor_revisions_entry_key", "editor_revisions")
    op.drop_table("editor_revisions")
