"""Email digest subscriptions on the site: subscribe, confirm, preferences, unsubscribe, preview.

Only `/subscribe` needs no credential; every other page is reached from an email through a signed
link (`paperfeed.mail.links`), and the token in `?t=` is the credential: no log-in.  A forged,
tampered, wrong-purpose or expired token gets a 400 page saying so and changes nothing.

- `/subscribe` answers the same "check your inbox" page for a new, pending or active address (no
  enumeration): a new or pending one is mailed a confirmation link, an active one its preferences link.
- Forms carry the session's CSRF token; the session cookie exists for anonymous visitors too (it
  is set by the page that shows the form), so preferences work without an account.
- `POST /unsubscribe?t=` is also the RFC 8058 one-click target: mail providers POST
  `List-Unsubscribe=One-Click` with no cookie, so it needs no CSRF token (the signed token is enough),
  and it is not rate-limited (one provider's servers unsubscribe many people from a few addresses).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperfeed.mail.confirm_mail import MailNotSent, render_confirmation, render_reminder, send_message
from paperfeed.mail.links import BadLink, Links
from paperfeed.mail.subscriptions import Prefs, Subscriber, SubscriptionError, Subscriptions, normalise_email
from paperfeed.store.secret import site_secret
from paperfeed.web.accounts import _guard
from paperfeed.web.context import current_user, render, web
from paperfeed.web.subscribe_forms import PrefsForm, check_email, follow_kind, form_choices, initial_follows

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

NOT_SENT = ("We could not send the email just now: the mail server did not answer. Your request is saved; "
            "please try again in a few minutes.")
REFUSED = "The mail server refused to deliver to this address. Please check it and try again."
NO_MAIL = "This site is not set up to send email, so it cannot take subscriptions."


def links(request: Request, absolute: bool = False) -> Links:
    """Links signed with the site secret: absolute (for emails) or site-relative (for pages)."""
    w = web(request)
    secret = getattr(request.app.state, "mail_secret", None)
    if secret is None:
        secret = request.app.state.mail_secret = w.settings.secret or site_secret(w.pf.store)
    base = w.settings.mail.base_url if (absolute and w.settings.mail) else ""
    return Links(secret, base)


def subscriptions(request: Request) -> Subscriptions:
    return Subscriptions(web(request).pf.store)


def bad_link(request: Request, reason: str) -> HTMLResponse:
    return render(request, "error.html", status_code=400, heading="This link is not valid or has expired",
                  message=f"Nothing was changed: {reason}.", title="Invalid link · paperfeed")


def from_token(request: Request, purpose: str, t: str | None) -> Subscriber | HTMLResponse:
    """The subscriber a link was made for, or the 400 page to answer instead."""
    try:
        sid = links(request).read(purpose, t)
    except BadLink as e:
        return bad_link(request, str(e))
    sub = subscriptions(request).get(sid)
    if sub is None:
        return bad_link(request, "this subscription no longer exists")
    return sub


# -- subscribe -------------------------------------------------------------------------------------

def _subscribe_page(request: Request, status_code: int = 200, error: str | None = None, **values: str) -> \
        HTMLResponse:
    user = current_user(request)
    fields = {"email": user.email if user else "", "search": "", "author": "", "category": "",
              "frequency": "daily", **values}
    return render(request, "subscribe.html", status_code=status_code, error=error, form=fields,
                  title="Subscribe to the digest · paperfeed")


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request) -> HTMLResponse:
    return _subscribe_page(request)


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(request: Request, email: str = Form("", max_length=320), search: str = Form("", max_length=1000),
              author: str = Form("", max_length=300), category: str = Form("", max_length=100),
              frequency: str = Form("daily", max_length=10), csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, "subscribe")) is not None:
        return blocked
    values = {"email": email, "search": search, "author": author, "category": category, "frequency": frequency}
    mail = web(request).settings.mail
    try:
        check_email(email)
        follows = initial_follows(search, author, category)
        prefs = Prefs(frequency=frequency).checked()
    except SubscriptionError as e:
        return _subscribe_page(request, 400, f"Please check the form: {e}.", **values)
    if mail is None:
        return _subscribe_page(request, 503, NO_MAIL, **values)
    user = current_user(request)
    own = user is not None and normalise_email(user.email) == normalise_email(email)
    subs = subscriptions(request)
    # Linked only when created now: account emails are not verified, so an account must not attach its
    # upvotes to someone else's existing subscription (a new one still waits for the address's owner).
    sub, _created = subs.subscribe(email, prefs, user_id=user.id if own and user else None, follows_=follows)
    message = {"pending": render_confirmation, "active": render_reminder}.get(sub.status)
    if message is not None:  # a bounced address gets nothing: it cannot receive mail
        try:
            send_message(message(sub, mail, links(request, absolute=True)), mail)
        except MailNotSent as e:
            log.warning("confirmation email to subscriber %s not sent: %s", sub.id, e)
            if e.permanent:
                return _subscribe_page(request, 400, REFUSED, **values)
            return _subscribe_page(request, 503, NOT_SENT, **values)
    return render(request, "subscribe_sent.html", email=normalise_email(email), title="Check your inbox · paperfeed")


# -- confirm ---------------------------------------------------------------------------------------

@router.get("/subscription/confirm", response_class=HTMLResponse)
def confirm(request: Request, t: str | None = None) -> Response:
    sub = from_token(request, "confirm", t)
    if not isinstance(sub, Subscriber):
        return sub
    version = links(request).read_versioned("confirm", t)[1]
    if sub.status == "pending" and version != sub.link_version:
        return bad_link(request, "a newer confirmation link replaced this one; use the one in the latest email")
    sub = subscriptions(request).confirm(sub.id, version) or sub
    lk = links(request)
    return render(request, "subscription_confirmed.html", sub=sub, manage_url=lk.manage_url(sub.id),
                  title="Subscription confirmed · paperfeed" if sub.active else "Subscription · paperfeed")


# -- preferences -----------------------------------------------------------------------------------

def _prefs_page(request: Request, sub: Subscriber, status_code: int = 200, form: PrefsForm | None = None,
                error: str | None = None, follow_error: str | None = None, follow_kind_: str = "search",
                follow_value: str = "", saved: bool = False) -> HTMLResponse:
    lk = links(request)
    t = lk.token("manage", sub.id)
    return render(request, "subscription.html", status_code=status_code, sub=sub, t=t,
                  form=form or PrefsForm.of(sub.prefs), follows=subscriptions(request).follows_of([sub.id])[sub.id],
                  error=error, follow_error=follow_error, follow_kind=follow_kind_, follow_value=follow_value,
                  saved=saved, unsubscribe_url=lk.unsubscribe_url(sub.id),
                  preview_url=f"/subscription/preview?{urlencode({'t': t})}",
                  title="Digest preferences · paperfeed", **form_choices())


@router.get("/subscription", response_class=HTMLResponse)
def preferences(request: Request, t: str | None = None, saved: int = 0) -> Response:
    sub = from_token(request, "manage", t)
    if not isinstance(sub, Subscriber):
        return sub
    return _prefs_page(request, sub, saved=bool(saved))


@router.post("/subscription", response_class=HTMLResponse)
def change_preferences(request: Request, t: str | None = None, action: str = Form("prefs", max_length=20),
                       csrf_token: str | None = Form(None),
                       frequency: str = Form("daily", max_length=10), weekly_day: str = Form("0", max_length=5),
                       delivery_hour: str = Form("7", max_length=5), timezone: str = Form("UTC", max_length=100),
                       sections: list[str] = Form([]), send_empty: str | None = Form(None, max_length=5),
                       kind: str = Form("search", max_length=20), value: str = Form("", max_length=1000)) -> Response:
    sub = from_token(request, "manage", t)
    if not isinstance(sub, Subscriber):
        return sub
    if (blocked := _guard(request, csrf_token, "preferences")) is not None:
        return blocked
    subs = subscriptions(request)
    again = f"/subscription?{urlencode({'t': t, 'saved': 1})}"
    if action == "prefs":
        form = PrefsForm(frequency, weekly_day, delivery_hour, timezone, sections[:10], send_empty is not None)
        try:
            subs.update_prefs(sub.id, form.prefs())
        except SubscriptionError as e:
            return _prefs_page(request, sub, 400, form=form, error=f"Not saved: {e}.")
        return RedirectResponse(again, status_code=303)
    if action == "follow":
        try:
            subs.add_follow(sub.id, follow_kind(kind), value)
        except SubscriptionError as e:
            return _prefs_page(request, sub, 400, follow_error=f"Not added: {e}.", follow_kind_=kind,
                               follow_value=value)
        return RedirectResponse(again, status_code=303)
    if action == "unfollow":
        subs.remove_follow(sub.id, kind, value)
        return RedirectResponse(again, status_code=303)
    return _prefs_page(request, sub, 400, error="Unknown action: nothing was changed.")


# -- unsubscribe -----------------------------------------------------------------------------------

@router.get("/unsubscribe", response_class=HTMLResponse)
def unsubscribe_form(request: Request, t: str | None = None) -> Response:
    sub = from_token(request, "unsubscribe", t)
    if not isinstance(sub, Subscriber):
        return sub
    return render(request, "unsubscribe.html", sub=sub, done=False, t=t, title="Unsubscribe · paperfeed")


@router.post("/unsubscribe", response_class=HTMLResponse)
def unsubscribe(request: Request, t: str | None = None) -> Response:
    """Also RFC 8058's one-click target: its body (`List-Unsubscribe=One-Click`) is accepted and not needed."""
    sub = from_token(request, "unsubscribe", t)
    if not isinstance(sub, Subscriber):
        return sub
    sub = subscriptions(request).unsubscribe(sub.id) or sub
    return render(request, "unsubscribe.html", sub=sub, done=True, t=t, title="Unsubscribed · paperfeed")


# -- preview ---------------------------------------------------------------------------------------

# The email's HTML has inline styles and nothing else: allow those, forbid everything that could run or load.
PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'"


@router.get("/subscription/preview", response_class=HTMLResponse)
def preview(request: Request, t: str | None = None) -> Response:
    """The subscriber's next digest as its email's HTML part: built as the runner will build it, neither
    sent nor recorded (a preview must not use up the papers it shows)."""
    from paperfeed.mail.digest import next_digest
    from paperfeed.mail.model import message_id
    from paperfeed.mail.render import render_message
    from paperfeed.mail.settings import MailSettings
    from paperfeed.mail.subscriptions import utcnow

    sub = from_token(request, "manage", t)
    if not isinstance(sub, Subscriber):
        return sub
    now = utcnow().replace(microsecond=0)
    digest = next_digest(web(request).pf, sub, now)
    mail = web(request).settings.mail or MailSettings()
    msg = render_message(digest, mail, links(request, absolute=True), date=now,
                         message_id=message_id(sub.id, digest.period.key, mail.mail_domain))
    body = msg.get_body(("html",))
    assert body is not None
    return HTMLResponse(body.get_content(), headers={"Content-Security-Policy": PREVIEW_CSP,
                                                     "Cache-Control": "no-store"})
