"""core: the root every capability branch starts from

Revision ID: 0001_core
"""
revision = "0001_core"
down_revision = None
branch_labels = ("core",)
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
