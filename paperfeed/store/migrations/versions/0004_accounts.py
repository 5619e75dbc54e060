"""Accounts that can be revoked: server-side sessions, shared rate limits, per-account log-in throttling,
verified emails, token scopes and expiry, versioned confirmation links.

Revision ID: 0004_accounts
Revises: 0003

Existing data keeps working: accounts made before email verification existed are marked verified as of
their creation (they could already vote; taking that away on upgrade would break them), existing API
tokens get the `write` scope they had in effect and no expiry, and existing subscribers start at link
version 0, which is what their outstanding confirmation links carry.  Sessions from before 0004 lived
only in the cookie and cannot be revoked; the site no longer reads them, so members log in once again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_accounts"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as b:
        b.add_column(sa.Column("email_verified_at", sa.DateTime))
        b.add_column(sa.Column("password_changed_at", sa.DateTime))
    op.execute("UPDATE users SET email_verified_at = created_at")
    with op.batch_alter_table("api_tokens") as b:
        b.add_column(sa.Column("scope", sa.String(16), nullable=False, server_default="write"))
        b.add_column(sa.Column("expires_at", sa.DateTime))
    with op.batch_alter_table("subscribers") as b:
        b.add_column(sa.Column("link_version", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_seen_at", sa.DateTime, nullable=False),
        sa.Column("user_agent", sa.String(200), nullable=False, server_default=""),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_table(
        "rate_buckets",
        sa.Column("action", sa.String(32), primary_key=True),
        sa.Column("client", sa.String(128), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("stamp", sa.Float, nullable=False),
        sa.Column("full_at", sa.Float, nullable=False),
    )
    op.create_index("ix_rate_buckets_full_at", "rate_buckets", ["full_at"])
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_login_failures_updated_at", "login_failures", ["updated_at"])


def downgrade() -> None:
    op.drop_table("login_failures")
    op.drop_table("rate_buckets")
    op.drop_table("sessions")
    with op.batch_alter_table("subscribers") as b:
        b.drop_column("link_version")
    with op.batch_alter_table("api_tokens") as b:
        b.drop_column("expires_at")
        b.drop_column("scope")
    with op.batch_alter_table("users") as b:
        b.drop_column("password_changed_at")
        b.drop_column("email_verified_at")
