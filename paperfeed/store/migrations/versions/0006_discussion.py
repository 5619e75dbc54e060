"""Discussion under every paper: comments, their upvotes, reports, the moderation log, notifications and
each member's notification setting.

Revision ID: 0006_discussion
Revises: 0007_signals (main took 0007 first; the lead may re-chain)

Comments are never deleted as rows while they have replies: a deletion (by the writer or a moderator) or a
hide sets a stamp, and the thread keeps its shape with "[deleted]" in the place.  A notification is one row
per (member, comment): the unique key is what makes "notified exactly once" hold even when two requests race.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_discussion"
down_revision = "0005_people"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("paper_pk", sa.Integer, sa.ForeignKey("papers.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("comments.id", ondelete="CASCADE")),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("edited_at", sa.DateTime),
        sa.Column("deleted_at", sa.DateTime),
        sa.Column("hidden_at", sa.DateTime),
        sa.Column("hidden_by", sa.Integer),
    )
    op.create_index("ix_comments_paper_pk", "comments", ["paper_pk"])
    op.create_index("ix_comments_user_id", "comments", ["user_id"])
    op.create_index("ix_comments_parent_id", "comments", ["parent_id"])
    op.create_table(
        "comment_votes",
        sa.Column("comment_id", sa.Integer, sa.ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("comment_id", "user_id", name="uq_comment_votes_comment_user"),
    )
    op.create_table(
        "comment_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("comment_id", sa.Integer, sa.ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("resolved_at", sa.DateTime),
        sa.Column("resolved_by", sa.Integer),
        sa.UniqueConstraint("comment_id", "user_id", name="uq_comment_reports_comment_user"),
    )
    op.create_index("ix_comment_reports_resolved_at", "comment_reports", ["resolved_at"])
    op.create_table(
        "moderation_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("actor_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("comment_id", sa.Integer),
        sa.Column("target_user_id", sa.Integer),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("comment_id", sa.Integer, sa.ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("read_at", sa.DateTime),
        sa.Column("email_status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("emailed_at", sa.DateTime),
        sa.UniqueConstraint("user_id", "comment_id", name="uq_notifications_user_comment"),
    )
    op.create_index("ix_notifications_email_status", "notifications", ["email_status"])
    op.create_table(
        "notification_settings",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("email", sa.Integer, nullable=False, server_default="1"),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    # The discussion's change stamp (store/discussion.py `discussion_version`): one row, only ever UPDATEd.
    op.execute("INSERT INTO kv (key, value) VALUES ('discussion.version', '{\"v\": \"0\"}')")


def downgrade() -> None:
    op.execute("DELETE FROM kv WHERE key = 'discussion.version'")
    op.drop_table("notification_settings")
    op.drop_table("notifications")
    op.drop_table("moderation_log")
    op.drop_table("comment_reports")
    op.drop_table("comment_votes")
    op.drop_table("comments")
