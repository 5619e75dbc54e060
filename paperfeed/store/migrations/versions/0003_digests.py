"""Email digests: subscribers, what they follow, the delivery ledger and what each digest held.

Revision ID: 0003
Revises: 0002

See `paperfeed/store/schema.py` for what each column means.  The ledger's uniqueness
(one digest per subscriber per period, one Message-ID per digest) is the database's job,
so two `digest run` processes can never plan the same digest twice.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("frequency", sa.String(8), nullable=False),
        sa.Column("weekly_day", sa.Integer, nullable=False),
        sa.Column("delivery_hour", sa.Integer, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("sections", sa.String(200), nullable=False),
        sa.Column("send_empty", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("confirmed_at", sa.DateTime),
        sa.Column("unsubscribed_at", sa.DateTime),
        sa.Column("bounced_at", sa.DateTime),
        sa.Column("bounce_reason", sa.Text),
        sa.Column("prefs_changed_at", sa.DateTime),
    )
    op.create_index("ix_subscribers_status", "subscribers", ["status"])
    op.create_index("ix_subscribers_user_id", "subscribers", ["user_id"])
    op.create_table(
        "follows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("subscriber_id", "kind", "value", name="uq_follows_subscriber_kind_value"),
    )
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("window_start", sa.Date, nullable=False),
        sa.Column("window_end", sa.Date, nullable=False),
        sa.Column("due_at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("lease_until", sa.DateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime),
        sa.UniqueConstraint("subscriber_id", "period", name="uq_digests_subscriber_period"),
    )
    op.create_index("ix_digests_status", "digests", ["status"])
    op.create_table(
        "digest_items",
        sa.Column("digest_id", sa.Integer, sa.ForeignKey("digests.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.Column("paper_pk", sa.Integer, sa.ForeignKey("papers.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("section", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.UniqueConstraint("digest_id", "paper_pk", name="uq_digest_items_digest_paper"),
    )
    op.create_index("ix_digest_items_subscriber_paper", "digest_items", ["subscriber_id", "paper_pk"])


def downgrade() -> None:
    op.drop_table("digest_items")
    op.drop_table("digests")
    op.drop_table("follows")
    op.drop_table("subscribers")
