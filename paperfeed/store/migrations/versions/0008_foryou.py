"""The private "For you" feed link (issue 11): a per-member nonce in `signal_prefs.feed_key`.

The feed URL carries a token signed with the site secret that names the member and this nonce; "reset
feed link" stores a new nonce, so every link handed out before stops working (404).  Deleting the
member's signals deletes the row, which voids the link too.

Revision ID: 0008_foryou
Revises: 0007_signals (the lead re-chains helpers' migrations linearly at merge)
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_foryou"
down_revision = "0007_signals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signal_prefs") as batch:
        batch.add_column(sa.Column("feed_key", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signal_prefs") as batch:
        batch.drop_column("feed_key")
