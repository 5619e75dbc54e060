"""Community tables for the papers site: users, votes, submissions, API tokens.

Revision ID: 0002
Revises: 0001

Votes and submissions point at `papers.pk` (the store's stable row key) so that a paper
whose id is refined by a later merge keeps its votes.  Uniqueness is enforced by the
database, not the application: one vote per user per paper, one submission per paper per day.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "votes",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("paper_pk", sa.Integer, sa.ForeignKey("papers.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("user_id", "paper_pk", name="uq_votes_user_paper"),
    )
    op.create_index("ix_votes_paper_pk", "votes", ["paper_pk"])
    op.create_index("ix_votes_created_at", "votes", ["created_at"])
    op.create_table(
        "submissions",
        sa.Column("paper_pk", sa.Integer, sa.ForeignKey("papers.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("paper_pk", "day", name="uq_submissions_paper_day"),
    )
    op.create_index("ix_submissions_day", "submissions", ["day"])
    op.create_index("ix_submissions_user_id", "submissions", ["user_id"])
    # Only a hash of each token is kept: a copy of the database does not hand out API access.
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("submissions")
    op.drop_table("votes")
    op.drop_table("users")
