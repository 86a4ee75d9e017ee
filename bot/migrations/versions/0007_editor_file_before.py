"""editor: keep the whole file as it was before each change (replica sync only fast-forwards known copies)

Revision ID: 0007_editor_file_before
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_editor_file_before"
down_revision = "0006_editor"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("editor_revisions") as batch:
        batch.add_column(sa.Column("file_before", sa.Text, nullable=True))


def downgrade():
    with op.batch_alter_table("editor_revisions") as batch:
        batch.drop_column("file_before")
