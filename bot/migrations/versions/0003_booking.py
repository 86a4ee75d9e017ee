"""booking: slot capacity counters and bookings

Revision ID: 0003_booking
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_booking"
down_revision = "0001_core"
branch_labels = ("booking",)
depends_on = None


def upgrade():
    op.create_table(
        "booking_slots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.String(40), nullable=False),
        sa.Column("service_id", sa.String(40), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("start", sa.DateTime, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("booked", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("site_id", "service_id", "mode", "start", name="uq_booking_slots_slot"),
        sa.CheckConstraint("booked >= 0 AND booked <= capacity", name="ck_booking_slots_booked"),
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(24), unique=True),
        sa.Column("service_id", sa.String(40), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("site_id", sa.String(40), nullable=False),
        sa.Column("start", sa.DateTime, nullable=False),
        sa.Column("end", sa.DateTime, nullable=False),
        sa.Column("person", sa.String(60), nullable=False),
        sa.Column("address", sa.String(200)),
        sa.Column("phone_masked", sa.String(20), nullable=False),
        sa.Column("phone_hash", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False, server_default="booked"),
        sa.Column("idempotency_key", sa.String(128), nullable=False, unique=True),
        sa.Column("cancel_reason", sa.Text),
        sa.Column("cancelled_by", sa.String(16)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("cancelled_at", sa.DateTime),
    )
    op.create_index("ix_bookings_start", "bookings", ["start"])
    op.create_index("ix_bookings_conversation", "bookings", ["conversation_id"])
    op.create_index("ix_bookings_phone_hash", "bookings", ["phone_hash"])


def downgrade():
    op.drop_table("bookings")
    op.drop_table("booking_slots")
