"""A digest as an email: multipart/alternative, a plain-text part and an inline-styled HTML part.

Why it looks the way it does:
- Mail clients strip <style> blocks and block remote content, so the HTML uses tables and inline
  styles only: no scripts, no images, no web fonts, nothing fetched when the message is opened.
- Every piece of paper text (titles, abstracts, authors, reasons, saved searches) comes from
  outside, so the HTML is produced by a Jinja2 template with autoescaping on.  LaTeX in titles and
  abstracts is rendered by the site's own renderer (present/latex.py): Unicode text in the plain part,
  escaped HTML with math as Unicode in the HTML part (mail clients drop MathML).
- One-click unsubscribe (RFC 8058): `List-Unsubscribe` with the signed https link and
  `List-Unsubscribe-Post: List-Unsubscribe=One-Click`; both parts also link to the preferences page
  and to unsubscribing.
- Deterministic: the same digest, settings, Message-ID and date give the same bytes (the MIME
  boundary is derived from the Message-ID, the signed links are signed as of `date`, and day/month
  names do not depend on the locale), so a copy resent after a crash is identical to the first.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from paperfeed.mail.links import Links
from paperfeed.mail.model import SECTION_TITLES, Digest, Pick
from paperfeed.mail.settings import MailSettings
from paperfeed.present.latex import to_html, to_text
from paperfeed.present.snippets import first_lines
from paperfeed.urls import paper_url, safe_link

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ABSTRACT_CHARS = 320
MAX_AUTHORS = 4


def day_label(d: date, weekday: bool = True) -> str:
    """'Tue 24 Nov' (locale-independent)."""
    core = f"{d.day} {MONTHS[d.month - 1]}"
    return f"{DAYS[d.weekday()]} {core}" if weekday else core


def window_label(start: date, end: date) -> str:
    """The listing days a digest covers, e.g. '23 Nov' or '20 Nov to 23 Nov'."""
    last = end - timedelta(days=1)
    if last <= start:
        return day_label(start, weekday=False)
    return f"{day_label(start, weekday=False)} to {day_label(last, weekday=False)}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def subject_of(digest: Digest) -> str:
    kind = "weekly digest" if digest.subscriber.prefs.frequency == "weekly" else "digest"
    when = day_label(digest.period.window_end)
    what = "nothing new" if digest.empty else _plural(len(digest.picks), "new paper")
    return f"paperfeed {kind} for {when}: {what}"


def snippet(text: str, limit: int = ABSTRACT_CHARS) -> str:
    """The start of an abstract as plain text, cut at a word outside math (present/snippets.py)."""
    piece, cut = first_lines(text, limit)
    return to_text(piece).rstrip(",;:.") + " \u2026" if cut else to_text(piece)


def snippet_html(text: str, limit: int = ABSTRACT_CHARS) -> Markup:
    piece, cut = first_lines(text, limit)
    return to_html(piece, math="text") + (Markup(" \u2026") if cut else Markup(""))


def authors_line(authors: list[str]) -> str:
    if len(authors) <= MAX_AUTHORS:
        return ", ".join(authors)
    return ", ".join(authors[:MAX_AUTHORS - 1]) + f" and {len(authors) - MAX_AUTHORS + 1} more"


def _items(digest: Digest, settings: MailSettings, links: Links, at: datetime) -> list[dict]:
    base = settings.base_url.rstrip("/")
    out = []
    for section, picks in digest.sections():
        out.append({"title": SECTION_TITLES[section], "picks": [
            _pick(p, base, links.dismiss_url(digest.subscriber.id, p.paper_pk, at=at) if section == "similar" else "")
            for p in picks]})
    return out


def _pick(p: Pick, base: str, dismiss_url: str = "") -> dict:
    paper = p.paper
    return {"title": to_text(" ".join(paper.title.split())), "url": paper_url(base, paper.id), "dismiss": dismiss_url,
            "title_html": to_html(" ".join(paper.title.split()), math="text"),
            "pdf": safe_link(paper.links.get("pdf")) or "", "authors": authors_line(paper.authors),
            "abstract": snippet(paper.abstract), "abstract_html": snippet_html(paper.abstract), "reason": p.reason}


_ENV = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                   keep_trailing_newline=True)

# Colours: text #1f2328 on white (15:1), secondary #57606a (6.1:1), links #0b57a4 (7:1), all AA.
HTML = _ENV.from_string("""\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ subject }}</title>
</head>
<body style="margin:0;padding:0;background:#f3f4f6;">
<div style="display:none;max-height:0;overflow:hidden;">{{ preheader }}</div>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f3f4f6;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" \
style="max-width:640px;background:#ffffff;border:1px solid #d8dee4;border-radius:8px;\
font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2328;">
<tr><td style="padding:20px 28px 16px;border-bottom:1px solid #d8dee4;">
<div style="font-size:13px;font-weight:bold;letter-spacing:0.5px;color:#0b57a4;">PAPERFEED</div>
<h1 style="margin:6px 0 4px;font-size:22px;line-height:1.3;color:#1f2328;">{{ heading }}</h1>
<div style="font-size:14px;color:#57606a;">{{ summary }}</div>
</td></tr>
{% if sections %}
{% for s in sections %}
<tr><td style="padding:20px 28px 4px;">
<h2 style="margin:0;font-size:13px;letter-spacing:0.6px;text-transform:uppercase;color:#57606a;\
border-bottom:2px solid #0b57a4;padding-bottom:6px;">{{ s.title }}</h2>
</td></tr>
{% for p in s.picks %}
<tr><td style="padding:12px 28px;">
<a href="{{ p.url }}" style="font-size:17px;line-height:1.35;font-weight:bold;color:#0b57a4;\
text-decoration:none;">{{ p.title_html }}</a>
{% if p.authors %}<div style="margin-top:3px;font-size:13px;color:#57606a;">{{ p.authors }}</div>{% endif %}
<div style="margin-top:6px;"><span style="display:inline-block;font-size:12px;line-height:1.4;color:#0a3d6e;\
background:#e4effa;border-radius:10px;padding:2px 9px;">{{ p.reason }}</span></div>
{% if p.abstract %}<div style="margin-top:6px;font-size:14px;line-height:1.5;color:#1f2328;">\
{{ p.abstract_html }}</div>\
{% endif %}
<div style="margin-top:6px;font-size:13px;"><a href="{{ p.url }}" style="color:#0b57a4;">Read on paperfeed</a>\
{% if p.pdf %} &middot; <a href="{{ p.pdf }}" style="color:#0b57a4;">PDF</a>{% endif %}\
{% if p.dismiss %} &middot; <a href="{{ p.dismiss }}" style="color:#57606a;">Not interested</a>{% endif %}</div>
</td></tr>
{% endfor %}
{% endfor %}
{% else %}
<tr><td style="padding:20px 28px;font-size:15px;line-height:1.5;">
<p style="margin:0 0 10px;">No new papers matched your digest this time: nothing trended, and nothing new matched \
your searches, authors, categories or upvotes in the papers listed {{ window }}.</p>
<p style="margin:0;color:#57606a;">You asked to be told when this happens. You can turn these notices off on your \
preferences page.</p>
</td></tr>
{% endif %}
<tr><td style="padding:18px 28px 22px;border-top:1px solid #d8dee4;font-size:12px;line-height:1.6;color:#57606a;">
You receive this {{ cadence }} digest because {{ email }} subscribed to paperfeed.<br>
<a href="{{ manage_url }}" style="color:#0b57a4;">Change what you receive</a> &middot; \
<a href="{{ unsubscribe_url }}" style="color:#0b57a4;">Unsubscribe</a>
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
""")


def wrap(text: str, width: int = 72, first: str = "", rest: str = "") -> list[str]:
    """Greedy word wrap on spaces, never breaking a word or at a hyphen (URLs and LaTeX stay whole).
    What `textwrap` would give for such text, at a tenth of its cost, which matters at 300 emails/s."""
    lines: list[str] = []
    line, room = first, width - len(first)
    started = False
    for word in text.split():
        if started and len(word) + 1 > room:
            lines.append(line)
            line, room, started = rest + word, width - len(rest) - len(word), True
        else:
            line += (" " + word) if started else word
            room -= len(word) + (1 if started else 0)
            started = True
    if started:
        lines.append(line)
    return lines


def _text(digest: Digest, ctx: dict) -> str:
    indent = "   "
    lines = [ctx["heading"], ctx["summary"], ""]
    if not ctx["sections"]:
        lines += wrap("No new papers matched your digest this time: nothing trended, and nothing new "
                      f"matched your searches, authors, categories or upvotes in the papers listed "
                      f"{ctx['window']}.")
        lines += ["", *wrap("You asked to be told when this happens. You can turn these notices off on "
                            "your preferences page."), ""]
    n = 0
    for s in ctx["sections"]:
        lines += [s["title"].upper(), "=" * len(s["title"]), ""]
        for p in s["picks"]:
            n += 1
            lines += wrap(f"{n}. {p['title']}", rest=indent)
            if p["authors"]:
                lines += wrap(p["authors"], first=indent, rest=indent)
            lines += wrap(f"Why: {p['reason']}", first=indent, rest=indent)
            if p["abstract"]:
                lines += wrap(p["abstract"], first=indent, rest=indent)
            lines += [f"{indent}{p['url']}"]
            if p["dismiss"]:
                lines += [f"{indent}Not interested: {p['dismiss']}"]
            lines += [""]
    lines += ["-- ", f"You receive this {ctx['cadence']} digest because {ctx['email']} subscribed to paperfeed.",
              "Change what you receive:", ctx["manage_url"], "Unsubscribe:", ctx["unsubscribe_url"], ""]
    return "\n".join(lines)


def render_message(digest: Digest, settings: MailSettings, links: Links, *, message_id: str,
                   date: datetime) -> EmailMessage:
    """The email for `digest` (an empty digest gives the short "nothing new" notice).  `date` is naive UTC."""
    sub = digest.subscriber
    subject = subject_of(digest)
    window = window_label(digest.period.window_start, digest.period.window_end)
    count = len(digest.picks)
    ctx = {
        "subject": subject,
        "heading": f"Your papers for {day_label(digest.period.window_end)}",
        "summary": (f"{_plural(count, 'paper')} picked for you from the papers listed {window}." if count
                    else f"Nothing new for you in the papers listed {window}."),
        "preheader": "; ".join(to_text(p.paper.title) for p in digest.picks[:3]) or "Nothing new this time.",
        "window": window,
        "sections": _items(digest, settings, links, date),
        "cadence": "weekly" if sub.prefs.frequency == "weekly" else "daily",
        "email": sub.email,
        "manage_url": links.manage_url(sub.id, at=date),
        "unsubscribe_url": links.unsubscribe_url(sub.id, at=date),
    }
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = sub.email
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date.replace(tzinfo=UTC) if date.tzinfo is None else date.astimezone(UTC))
    msg["Message-ID"] = message_id
    msg["List-Id"] = f"paperfeed digest <digest.{settings.mail_domain}>"
    msg["List-Unsubscribe"] = f"<{ctx['unsubscribe_url']}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Precedence"] = "bulk"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(_text(digest, ctx), cte="quoted-printable")
    msg.add_alternative(HTML.render(**ctx), subtype="html", cte="quoted-printable")
    msg.set_boundary("==paperfeed-" + hashlib.sha256(message_id.encode()).hexdigest()[:24])
    return msg
