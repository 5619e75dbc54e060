"""Notification emails sent in the background, with retries: an attempt count and a "not before" time.

Revision ID: 0009_discuss
Revises: 0008_foryou

`email_attempts` counts hand-over attempts (a transient SMTP failure schedules the next one with backoff,
discussion/sender.py; after the last it is `failed`).  `email_after` is when a `pending` row may be tried
again, and for a `sending` row the end of its sender's lease: a sender that died holding it is replaced
once the lease ends (the resend has the same Message-ID, so the receiving server can fold it).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_discuss"
down_revision = "0008_foryou"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as t:
        t.add_column(sa.Column("email_attempts", sa.Integer, nullable=False, server_default="0"))
        t.add_column(sa.Column("email_after", sa.DateTime))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as t:
        t.drop_column("email_after")
        t.drop_column("email_attempts")
