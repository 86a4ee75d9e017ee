"""applications: records imported from the welfare system, their change history, verification counters

Revision ID: 0002_applications
Revises: 0001_core
"""
from alembic import op
import sqlalchemy as sa

revision = "0002_applications"
down_revision = "0001_core"
branch_labels = ("applications",)
depends_on = None


def upgrade():
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("application_no", sa.String(40), nullable=False),
        sa.Column("program_id", sa.String(80), nullable=False),
        sa.Column("name_masked", sa.String(80), nullable=False),
        sa.Column("name_hash", sa.String(64), nullable=False),
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("id_last6_hash", sa.String(64), nullable=False),
        sa.Column("id_masked", sa.String(18), nullable=False),
        sa.Column("phone_hash", sa.String(64), nullable=False),
        sa.Column("phone_masked", sa.String(11), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("submitted_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("imported_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("application_no", name="uq_applications_application_no"),
    )
    op.create_table(
        "application_changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("application_id", sa.Integer, sa.ForeignKey("applications.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("old_value", sa.Text),
        sa.Column("new_value", sa.Text),
        sa.Column("changed_at", sa.DateTime, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
    )
    op.create_index("ix_application_changes_application_id", "application_changes", ["application_id"])
    op.create_table(
        "verification_counters",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_started_at", sa.DateTime, nullable=False),
        sa.Column("locked_until", sa.DateTime),
    )
    op.create_table(
        "verification_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("application_no", sa.String(40), nullable=False),
        sa.Column("conversation_hash", sa.String(64), nullable=False),
        sa.Column("factor", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_verification_attempts_application_no", "verification_attempts", ["application_no"])


def downgrade():
    op.drop_table("verification_attempts")
    op.drop_table("verification_counters")
    op.drop_index("ix_application_changes_application_id", "application_changes")
    op.drop_table("application_changes")
    op.drop_table("applications")
