"""Who a new comment notifies, and the emails of those notifications.

A reply notifies the writer of the comment it answers; a mention (`@handle`) notifies that member; nobody is
notified of their own comment, and nobody twice for one comment (store/notifications.py's unique key).
The on-site list (/notifications) has every notification; an email goes out only while the member's
setting is on and mail is configured.

A comment request only records the notifications (`notify_for`); their emails are sent in the background
by `discussion/sender.py`, through the same session code as the digests (`mail/smtp.py`, or the local
outbox when no SMTP server is configured).  The Message-ID is derived from the notification, so a resend
after a crash between hand-over and the `sent` mark is the same message to the receiving server.  Each
carries RFC 8058 one-click unsubscribe (`List-Unsubscribe` + `List-Unsubscribe-Post`) with a link signed by
the site secret, as digests do.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from itsdangerous import URLSafeSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape

from paperfeed.discussion import roles
from paperfeed.discussion.render import mentions, plain
from paperfeed.mail.settings import MailSettings
from paperfeed.present.latex import to_text
from paperfeed.store import discussion as sql
from paperfeed.store import notifications as notes
from paperfeed.store.discussion import Comment
from paperfeed.store.papers import Store
from paperfeed.urls import paper_url

UNSUBSCRIBE_SALT = "discussion-unsubscribe"
_env = Environment(loader=FileSystemLoader(str(Path(__file__).with_name("email"))),
                   autoescape=select_autoescape(["html"]), keep_trailing_newline=True)


def notify_for(store: Store, comment: Comment, mail: bool) -> list[int]:
    """Record the notifications a new comment causes; the member ids notified."""
    targets: list[tuple[int, str]] = []
    if comment.parent_id is not None:
        parent = sql.get_comment(store, comment.parent_id)
        if parent is not None:
            targets.append((parent.user_id, "reply"))
    for h in mentions(comment.body)[:20]:  # a comment cannot page the whole site
        uid = roles.member_by_handle(store, h)
        if uid is not None:
            targets.append((uid, "mention"))
    done: list[int] = []
    for uid, kind in targets:
        if uid == comment.user_id or uid in done:
            continue
        if notes.add(store, uid, kind, comment.id, email=mail and notes.email_enabled(store, uid)):
            done.append(uid)
    return done


def unsubscribe_token(secret: str, user_id: int) -> str:
    return URLSafeSerializer(secret, salt=UNSUBSCRIBE_SALT).dumps(user_id)


def read_unsubscribe(secret: str, token: str | None) -> int | None:
    if not token or len(token) > 500:
        return None
    try:
        v = URLSafeSerializer(secret, salt=UNSUBSCRIBE_SALT).loads(token)
    except Exception:  # altered or malformed
        return None
    return v if isinstance(v, int) else None


def render_email(store: Store, note: notes.Notification, to: str, settings: MailSettings, secret: str) -> EmailMessage:
    comment = sql.get_comment(store, note.comment_id)
    assert comment is not None
    ids = store.ids_of([comment.paper_pk])
    paper = store.get_many([comment.paper_pk]).get(comment.paper_pk)
    base = settings.base_url.rstrip("/")
    unsub = f"{base}/notifications/unsubscribe?t={unsubscribe_token(secret, note.user_id)}"
    ctx = {"handle": roles.handle_of(store, comment.user_id), "kind": note.kind,
           "title": to_text(paper.title) if paper else "a paper", "text": plain(comment.body)[:2000],
           "comment_url": paper_url(base, ids.get(comment.paper_pk, "")) + f"#c-{comment.id}",
           "unsubscribe_url": unsub}
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = to
    what = "replied to you" if note.kind == "reply" else "mentioned you"
    msg["Subject"] = f"{ctx['handle']} {what} on paperfeed"
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = f"<notification-{note.id}-{store.store_id[:12]}@{settings.mail_domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["List-Unsubscribe"] = f"<{unsub}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(_env.get_template("notification.txt").render(ctx))
    msg.add_alternative(_env.get_template("notification.html").render(ctx), subtype="html")
    return msg
