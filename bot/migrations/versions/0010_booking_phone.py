"""booking: the contact mobile kept encrypted, so staff can reveal it (audited) and the service site can call

Bookings made before this keep only the mask and the keyed hash (``phone_cipher`` NULL).

Revision ID: 0010_booking_phone
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_booking_phone"
down_revision = "0003_booking"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("phone_cipher", sa.Text, nullable=True))
    op.create_table(
        "booking_contacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("phone_hash", sa.String(64), nullable=False),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("conversation_id", "phone_hash", name="uq_booking_contacts_phone"),
    )
    op.create_index("ix_booking_contacts_created_at", "booking_contacts", ["created_at"])


def downgrade():
    op.drop_index("ix_booking_contacts_created_at", "booking_contacts")
    op.drop_table("booking_contacts")
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("phone_cipher")
