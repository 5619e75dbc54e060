"""People: handles, display names, bios, links, roles and bans on members; author claims; auto-approve rules.

Revision ID: 0005_people
Revises: 0004_accounts

Existing members keep working with no handle (the site shows `member<id>` until they choose one) and the
role `member`.  `handle` is the handle as the member chose it (NFKC, lower-case); `handle_key` is its
confusable skeleton (Unicode TR39, see `paperfeed.people.handles`) and is what is unique, so "аlice" with
a Cyrillic "а" cannot sit beside "alice".  Both are NULL until chosen (NULLs do not collide in a unique
index on SQLite or PostgreSQL).

An author claim is (member, paper, the author name as listed on the paper).  At most one claim per
(paper, author name) can be approved: a partial unique index on both backends.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_people"
down_revision = "0004_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN and unique indexes, not batch mode: on SQLite a batch rebuild drops and re-creates
    # `users`, and with foreign keys on that drop cascades to api_tokens, sessions, votes and submissions.
    for col in (sa.Column("handle", sa.String(64)), sa.Column("handle_key", sa.String(128)),
                sa.Column("display_name", sa.String(200)), sa.Column("bio", sa.Text),
                sa.Column("links", sa.Text, nullable=False, server_default="[]"),
                sa.Column("role", sa.String(16), nullable=False, server_default="member"),
                sa.Column("banned_at", sa.DateTime), sa.Column("banned_reason", sa.Text)):
        op.add_column("users", col)
    op.create_index("uq_users_handle", "users", ["handle"], unique=True)
    op.create_index("uq_users_handle_key", "users", ["handle_key"], unique=True)
    op.create_table(
        "author_claims",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("paper_pk", sa.Integer, sa.ForeignKey("papers.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("author_name", sa.String(500), nullable=False),
        sa.Column("author_key", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("decided_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("decided_at", sa.DateTime),
        sa.Column("reason", sa.Text),
        sa.UniqueConstraint("user_id", "paper_pk", "author_key", name="uq_author_claims_user_paper_author"),
    )
    op.create_index("ix_author_claims_paper_pk", "author_claims", ["paper_pk"])
    op.create_index("ix_author_claims_user_id", "author_claims", ["user_id"])
    op.create_index("ix_author_claims_status", "author_claims", ["status"])
    op.create_index("uq_author_claims_approved", "author_claims", ["paper_pk", "author_key"], unique=True,
                    sqlite_where=sa.text("status = 'approved'"), postgresql_where=sa.text("status = 'approved'"))
    op.create_table(
        "claim_rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email_domain", sa.String(255), nullable=False),
        sa.Column("author_pattern", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False, server_default=""),
        sa.UniqueConstraint("email_domain", "author_pattern", name="uq_claim_rules_domain_pattern"),
    )


def downgrade() -> None:
    op.drop_table("claim_rules")
    op.drop_index("uq_author_claims_approved", "author_claims")
    op.drop_table("author_claims")
    op.drop_index("uq_users_handle_key", "users")
    op.drop_index("uq_users_handle", "users")
    with op.batch_alter_table("users") as b:  # NB on SQLite this rebuild cascades like 0004's downgrade does
        for c in ("banned_reason", "banned_at", "role", "links", "bio", "display_name", "handle_key", "handle"):
            b.drop_column(c)
