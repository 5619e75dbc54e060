"""Tables of the store, in portable SQLAlchemy Core (SQLite now, PostgreSQL next).

Lists and dicts are JSON text so both dialects read them the same way.  `seq` is a
store-wide change counter: every write stamps the rows it touches with a new value,
and each derived index remembers the highest `seq` it has applied.  That one number
is how an index knows, after a crash, exactly what it is missing.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

papers = Table(
    "papers",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(128), nullable=False, unique=True),
    Column("arxiv_id", String(64), unique=True),
    Column("doi", String(256), unique=True),
    Column("title_key", String(512), nullable=False),
    Column("title", Text, nullable=False),
    Column("abstract", Text, nullable=False, default=""),
    Column("authors", Text, nullable=False, default="[]"),
    Column("categories", Text, nullable=False, default="[]"),
    Column("published", Date),
    Column("updated", Date),
    Column("listed", Date),
    Column("links", Text, nullable=False, default="{}"),
    Column("comment", Text),
    Column("sources", Text, nullable=False, default="[]"),
    Column("content_hash", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_papers_title_key", "title_key"),
    Index("ix_papers_listed", "listed"),
    Index("ix_papers_seq", "seq"),
    Index("ix_papers_content_hash", "content_hash"),
)

# Embeddings are keyed by content hash, not by paper: an unchanged text is never embedded twice.
embeddings = Table(
    "embeddings",
    metadata,
    Column("content_hash", String(64), primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("vector", LargeBinary, nullable=False),
    Column("seq", Integer, nullable=False),
    Index("ix_embeddings_seq", "seq"),
)

# Small durable key/value state: store identity, change counter, harvest resumption tokens.
kv = Table(
    "kv",
    metadata,
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
)

# -- community (migration 0002): accounts, upvotes, submissions to a day's list, API tokens ------------------
# Keyed by `papers.pk`, so a paper whose id is refined by a later merge keeps its votes.

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(256), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("email_verified_at", DateTime),  # 0004: None until the emailed link is opened
    Column("password_changed_at", DateTime),  # 0004
    # 0005 people: handle as chosen (NFKC, lower-case) and its TR39 confusable skeleton, which is what is unique
    Column("handle", String(64)),
    Column("handle_key", String(128)),
    Column("display_name", String(200)),
    Column("bio", Text),
    Column("links", Text, nullable=False, server_default="[]"),  # JSON list of http(s) URLs
    Column("role", String(16), nullable=False, server_default="member"),  # member | moderator | operator
    Column("banned_at", DateTime),
    Column("banned_reason", Text),
    Index("uq_users_handle", "handle", unique=True),
    Index("uq_users_handle_key", "handle_key", unique=True),
)

votes = Table(
    "votes",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("paper_pk", Integer, ForeignKey("papers.pk", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("user_id", "paper_pk", name="uq_votes_user_paper"),
    Index("ix_votes_paper_pk", "paper_pk"),
    Index("ix_votes_created_at", "created_at"),
)

submissions = Table(
    "submissions",
    metadata,
    Column("paper_pk", Integer, ForeignKey("papers.pk", ondelete="CASCADE"), nullable=False),
    Column("day", Date, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("paper_pk", "day", name="uq_submissions_paper_day"),
    Index("ix_submissions_day", "day"),
    Index("ix_submissions_user_id", "user_id"),
)

# Only a hash of each API token is kept: a copy of the database does not hand out API access.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
    Column("scope", String(16), nullable=False, server_default="write"),  # 0004: read | write
    Column("expires_at", DateTime),  # 0004: None = never
    Index("ix_api_tokens_user_id", "user_id"),
)

# -- accounts (migration 0004): server-side sessions, shared rate limits, per-account log-in throttling ----------
# A session cookie carries a random id; only its SHA-256 is stored, so a copy of the database opens no session.
# Revoking a row (log-out, "log out everywhere", a password change) ends the session wherever its cookie is.

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False),
    Column("user_agent", String(200), nullable=False, server_default=""),
    Column("revoked_at", DateTime),
    Index("ix_sessions_user_id", "user_id"),
)

# One token bucket per (action, client), updated in one write transaction, so every worker and node over the
# database shares it.  `full_at` is when the bucket is full again: a row past it equals no row and is deleted.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("action", String(32), primary_key=True),
    Column("client", String(128), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("stamp", Float, nullable=False),  # unix time of the last update
    Column("full_at", Float, nullable=False),
    Index("ix_rate_buckets_full_at", "full_at"),
)

# Failed log-ins per account name (SHA-256 of the normalised email, whether or not it has an account, so the
# throttle itself reveals nothing), independent of the client address.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("locked_until", Float, nullable=False),  # unix time; 0 = not locked
    Column("updated_at", Float, nullable=False),
    Index("ix_login_failures_updated_at", "updated_at"),
)

# -- email digests (migration 0003): subscribers, what they follow, the delivery ledger ------------------------
# A subscriber is an email address (an account is optional: `user_id` links one, whose upvotes then count as
# "liked papers").  `digests` is the durable ledger: one row per (subscriber, period), written before the
# message is sent and updated right after the SMTP server's 250, so a rerun after a crash knows what is owed.

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),  # normalised (stripped, lower-case)
    Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    # pending (waits for the confirmation link) | active | unsubscribed | bounced (a permanent SMTP failure)
    Column("status", String(16), nullable=False),
    Column("frequency", String(8), nullable=False),  # daily (weekdays) | weekly
    Column("weekly_day", Integer, nullable=False),  # 0 = Monday … 6 = Sunday; used when weekly
    Column("delivery_hour", Integer, nullable=False),  # 0-23, local time in `timezone`
    Column("timezone", String(64), nullable=False),  # an IANA name, e.g. Europe/Berlin
    Column("sections", String(200), nullable=False),  # comma-separated: trending,searches,follows,similar
    Column("send_empty", Integer, nullable=False),  # 1: send a short notice when there is nothing new
    Column("created_at", DateTime, nullable=False),
    Column("confirmed_at", DateTime),
    Column("unsubscribed_at", DateTime),
    Column("bounced_at", DateTime),
    Column("bounce_reason", Text),
    Column("prefs_changed_at", DateTime),
    # 0004: bumped on every unsubscribe and re-subscribe; confirmation links carry it, so an old one is void
    Column("link_version", Integer, nullable=False, server_default="0"),
    Index("ix_subscribers_status", "status"),
    Index("ix_subscribers_user_id", "user_id"),
)

follows = Table(
    "follows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # search | author | category
    Column("value", String(1000), nullable=False),  # the query, the author's name, the category
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("subscriber_id", "kind", "value", name="uq_follows_subscriber_kind_value"),
)

digests = Table(
    "digests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("period", String(16), nullable=False),  # 2026-11-24 (daily) or 2026-W48 (weekly)
    Column("window_start", Date, nullable=False),  # listing days covered: window_start <= day < window_end
    Column("window_end", Date, nullable=False),
    Column("due_at", DateTime, nullable=False),  # UTC
    # planned -> sending -> sent | empty (nothing to send) | retry (transient failure) | failed (permanent)
    Column("status", String(16), nullable=False),
    Column("message_id", String(255), nullable=False, unique=True),  # deterministic: a resend is folded
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime),
    Column("claimed_by", String(128)),  # host:pid of the sender holding it
    Column("lease_until", DateTime),
    Column("last_error", Text),
    Column("created_at", DateTime, nullable=False),
    Column("sent_at", DateTime),
    UniqueConstraint("subscriber_id", "period", name="uq_digests_subscriber_period"),
    Index("ix_digests_status", "status"),
)

digest_items = Table(
    "digest_items",
    metadata,
    Column("digest_id", Integer, ForeignKey("digests.id", ondelete="CASCADE"), nullable=False),
    Column("subscriber_id", Integer, nullable=False),  # denormalised: "never again in a later digest"
    Column("paper_pk", Integer, ForeignKey("papers.pk", ondelete="CASCADE"), nullable=False),
    Column("section", String(16), nullable=False),  # trending | searches | follows | similar
    Column("reason", Text, nullable=False),  # shown beside the paper: which search, author, liked paper
    Column("position", Integer, nullable=False),
    UniqueConstraint("digest_id", "paper_pk", name="uq_digest_items_digest_paper"),
    Index("ix_digest_items_subscriber_paper", "subscriber_id", "paper_pk"),
)

# -- people (migration 0005): author claims and the operator's auto-approve rules -------------------------------
# A claim names the author as listed on the paper (`author_name`) and its comparison key (`author_key`,
# `paperfeed.people.claims.author_key`); at most one approved claim per (paper, author): a partial unique index.

author_claims = Table(
    "author_claims",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("paper_pk", Integer, ForeignKey("papers.pk", ondelete="CASCADE"), nullable=False),
    Column("author_name", String(500), nullable=False),
    Column("author_key", String(500), nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("created_at", DateTime, nullable=False),
    Column("decided_by", Integer, ForeignKey("users.id", ondelete="SET NULL")),  # None: a rule, or the CLI
    Column("decided_at", DateTime),
    Column("reason", Text),
    UniqueConstraint("user_id", "paper_pk", "author_key", name="uq_author_claims_user_paper_author"),
    Index("ix_author_claims_paper_pk", "paper_pk"),
    Index("ix_author_claims_user_id", "user_id"),
    Index("ix_author_claims_status", "status"),
    Index("uq_author_claims_approved", "paper_pk", "author_key", unique=True,
          sqlite_where=text("status = 'approved'"), postgresql_where=text("status = 'approved'")),
)

# email domain of a verified member -> an author-name pattern (fnmatch on the author key; "*" = any name)
claim_rules = Table(
    "claim_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email_domain", String(255), nullable=False),
    Column("author_pattern", String(500), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(100), nullable=False, server_default=""),
    UniqueConstraint("email_domain", "author_pattern", name="uq_claim_rules_domain_pattern"),
)

# -- discussion (migration 0006): comments, their votes, reports, moderation log, notifications -------------------

comments = Table(
    "comments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("paper_pk", Integer, ForeignKey("papers.pk", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", Integer, ForeignKey("comments.id", ondelete="CASCADE")),
    Column("body", Text, nullable=False),  # the Markdown as written; rendered on the way out
    Column("created_at", DateTime, nullable=False),
    Column("edited_at", DateTime),
    Column("deleted_at", DateTime),  # by its writer or a moderator
    Column("hidden_at", DateTime),  # by a moderator
    Column("hidden_by", Integer),
    Index("ix_comments_paper_pk", "paper_pk"),
    Index("ix_comments_user_id", "user_id"),
    Index("ix_comments_parent_id", "parent_id"),
)

comment_votes = Table(
    "comment_votes",
    metadata,
    Column("comment_id", Integer, ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("comment_id", "user_id", name="uq_comment_votes_comment_user"),
)

comment_reports = Table(
    "comment_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("comment_id", Integer, ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("resolved_at", DateTime),
    Column("resolved_by", Integer),
    UniqueConstraint("comment_id", "user_id", name="uq_comment_reports_comment_user"),
    Index("ix_comment_reports_resolved_at", "resolved_at"),
)

moderation_log = Table(
    "moderation_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("actor_id", Integer, nullable=False),
    Column("action", String(32), nullable=False),  # hide | unhide | delete | ban | dismiss
    Column("comment_id", Integer),
    Column("target_user_id", Integer),
    Column("note", String(500), nullable=False, server_default=""),
    Column("created_at", DateTime, nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # reply | mention
    Column("comment_id", Integer, ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("read_at", DateTime),
    Column("email_status", String(16), nullable=False, server_default="pending"),  # pending|sending|sent|off|failed
    Column("emailed_at", DateTime),
    # 0009_discuss: hand-over attempts, and when a pending row may be tried again / a sending row's lease ends
    Column("email_attempts", Integer, nullable=False, server_default="0"),
    Column("email_after", DateTime),
    UniqueConstraint("user_id", "comment_id", name="uq_notifications_user_comment"),  # exactly once
    Index("ix_notifications_email_status", "email_status"),
)

notification_settings = Table(
    "notification_settings",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("email", Integer, nullable=False, server_default="1"),  # 1: email me replies and mentions
    Column("updated_at", DateTime, nullable=False),
)


# -- personal-feed signals (migration 0007_signals, issue 11) ---------------------------------------------------
# Keyed by users.id and papers.pk with ON DELETE CASCADE: "delete my signals" is one DELETE per table.


def _user_col() -> Column:
    return Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


def _paper_col() -> Column:
    return Column("paper_pk", Integer, ForeignKey("papers.pk", ondelete="CASCADE"), nullable=False)


dismissals = Table(
    "dismissals", metadata, _user_col(), _paper_col(), Column("created_at", DateTime, nullable=False),
    UniqueConstraint("user_id", "paper_pk", name="uq_dismissals_user_paper"),
)

collections = Table(
    "collections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _user_col(),
    Column("name", String(200), nullable=False),
    Column("visibility", String(8), nullable=False, server_default="private"),  # private | link | public
    Column("share_token", String(43), nullable=False, unique=True),  # what a "link" collection's URL carries
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("user_id", "name", name="uq_collections_user_name"),
)

collection_items = Table(
    "collection_items",
    metadata,
    Column("collection_id", Integer, ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
    _paper_col(),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("collection_id", "paper_pk", name="uq_collection_items_collection_paper"),
    Index("ix_collection_items_paper_pk", "paper_pk"),
)

member_follows = Table(
    "member_follows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _user_col(),
    Column("kind", String(16), nullable=False),  # search | author | category (as subscriber follows)
    Column("value", String(1000), nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("user_id", "kind", "value", name="uq_member_follows_user_kind_value"),
)

signal_prefs = Table(
    "signal_prefs",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("implicit_opens", Integer, nullable=False, server_default="0"),  # 1: record opened papers
    Column("updated_at", DateTime, nullable=False),
    Column("feed_key", String(64), nullable=True),  # 0008_foryou: the private feed link's nonce (reset: new one)
)

paper_opens = Table(
    "paper_opens", metadata, _user_col(), _paper_col(),
    Column("source", String(16), nullable=False),  # digest | list
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("user_id", "paper_pk", name="uq_paper_opens_user_paper"),
)

shown_papers = Table(
    "shown_papers", metadata, _user_col(), _paper_col(),
    Column("place", String(16), nullable=False),  # digest | feed
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("user_id", "paper_pk", name="uq_shown_papers_user_paper"),
)

library_imports = Table(
    "library_imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _user_col(),
    Column("format", String(16), nullable=False),  # bibtex | ris | csv | arxiv
    Column("papers", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
)
