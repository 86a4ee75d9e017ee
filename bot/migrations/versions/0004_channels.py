"""channels: WeChat retry de-duplication, shared access token, numbered choices, undelivered messages

Revision ID: 0004_channels
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_channels"
down_revision = "0001_core"
branch_labels = ("channels",)
depends_on = None


def upgrade():
    op.create_table(
        "wechat_seen",
        sa.Column("key", sa.String(191), primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_wechat_seen_expires_at", "wechat_seen", ["expires_at"])
    op.create_table(
        "wechat_token",
        sa.Column("appid", sa.String(64), primary_key=True),
        sa.Column("access_token", sa.String(1024), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "wechat_choices",
        sa.Column("openid", sa.String(128), primary_key=True),
        sa.Column("payloads", sa.Text, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "wechat_undelivered",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("openid", sa.String(128), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("errcode", sa.Integer, nullable=True),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_wechat_undelivered_openid", "wechat_undelivered", ["openid"])


def downgrade():
    op.drop_index("ix_wechat_undelivered_openid", "wechat_undelivered")
    op.drop_table("wechat_undelivered")
    op.drop_table("wechat_choices")
    op.drop_table("wechat_token")
    op.drop_index("ix_wechat_seen_expires_at", "wechat_seen")
    op.drop_table("wechat_seen")
