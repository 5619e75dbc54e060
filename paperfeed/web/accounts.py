"""Accounts and community actions: sign up, verify, log in, log out (here or everywhere), change the
password, profile, upvote, submit.

Every POST checks the session's CSRF token first (403 without it) and the action's rate limit (429).
No answer reveals who has an account: sign-up shows the same "check your inbox" page for a new and a
taken address (only the mailbox's owner learns which, from what arrives: `paperfeed.accounts.verify`),
a failed log-in says the same whether the email is unknown or the password wrong, and the per-account
log-in throttle locks unknown names exactly as it locks real ones.  Sessions are server-side
(`paperfeed.accounts.sessions`): the cookie carries a random id that log-out revokes.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from paperfeed.accounts.emails import BadAddress, checked_address
from paperfeed.accounts.passwords import password_problem
from paperfeed.accounts.verify import (
    BadVerifyLink,
    VerifyLinks,
    already_registered_message,
    fingerprint,
    verification_message,
)
from paperfeed.mail.confirm_mail import MailNotSent, send_message
from paperfeed.models import normalise_arxiv_id
from paperfeed.people.handles import MAX_LEN
from paperfeed.people.profiles import MAX_BIO, MAX_LINKS
from paperfeed.store import people
from paperfeed.store.secret import site_secret
from paperfeed.web.context import client_key, current_user, error_page, render, web
from paperfeed.web.fetch import find_or_fetch
from paperfeed.web.listing import latest_day, submission_day_problem
from paperfeed.web.pages import landing_url
from paperfeed.web.security import csrf_ok, hash_password, needs_rehash, verify_password
from paperfeed.web.votes import apply_pending, pending_token, wants_json

router = APIRouter(include_in_schema=False)

LOGIN_FAILED = "Wrong email or password."
NOT_VERIFIED = ("Confirm your address first: open the link we emailed you. To get a new one, sign up again "
                "with the same address.")
NO_STORE = {"Cache-Control": "no-store"}  # pages with secrets or personal data: never kept by a cache


def safe_next(target: str | None, default: str = "/papers") -> str:
    """Only same-site paths (`/x`, never `//host` or `https://…`) as redirect targets."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def _guard(request: Request, token: str | None, action: str | None) -> Response | None:
    """The 403/429 response a POST must return instead of acting, or None when it may go on."""
    if not csrf_ok(request.session, token):
        return error_page(request, 403, "The form expired or did not come from this site; reload and try again.")
    if action and not web(request).limiter.allow(action, client_key(request)):
        return error_page(request, 429, "Too many attempts; wait a minute and try again.")
    return None


def _log_in(request: Request, user_id: int) -> None:
    """A new server-side session with a new id (no fixation); the visitor's earlier one ends."""
    w = web(request)
    old = request.session.get("sid")
    if isinstance(old, str):
        w.sessions.end(old)
    request.session.clear()
    request.session["sid"] = w.sessions.start(user_id, request.headers.get("user-agent", ""))
    request.state.user = None  # looked up again (with its verified state) on the next request


def verify_links(request: Request, absolute: bool = False) -> VerifyLinks:
    w = web(request)
    base = w.settings.mail.base_url if (absolute and w.settings.mail) else ""
    return VerifyLinks(w.settings.secret or site_secret(w.pf.store), base)


def _signup_page(request: Request, status_code: int, next: str, error: str | None, email: str,
                 sent: str | None = None) -> HTMLResponse:
    return render(request, "signup.html", status_code=status_code, next=next, error=error, email=email, sent=sent,
                  title="Sign up · paperfeed")


@router.get("/signup", response_class=HTMLResponse)
def signup_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _signup_page(request, 200, safe_next(next), None, "")


@router.post("/signup", response_class=HTMLResponse)
def signup(request: Request, email: str = Form("", max_length=320), password: str = Form("", max_length=1024),
           csrf_token: str | None = Form(None), next: str = Form("/papers")) -> Response:
    if (blocked := _guard(request, csrf_token, "signup")) is not None:
        return blocked
    w = web(request)
    nxt = safe_next(next)
    try:
        address = checked_address(email)
    except BadAddress as e:
        return _signup_page(request, 400, nxt, f"{str(e)[0].upper()}{str(e)[1:]}.", email)
    if (problem := password_problem(password, address, w.settings.min_password_chars)) is not None:
        return _signup_page(request, 400, nxt, problem, email)
    mail = w.settings.mail
    if mail is None:
        return _signup_page(request, 503, nxt, "This site is not set up to send email, so it cannot take sign-ups.",
                            email)
    new_hash = hash_password(password)  # in every case, so the answer takes the same time
    user = w.accounts.user_by_email(address) or w.accounts.create_user(address, new_hash) \
        or w.accounts.user_by_email(address)
    assert user is not None
    if user.verified:
        message = already_registered_message(user.email, mail)
    else:
        if user.password_hash != new_hash:  # signing up again: the latest password wins, older links die
            w.accounts.set_password_hash(user.id, new_hash)
            user = w.accounts.user(user.id) or user
        message = verification_message(user, mail, verify_links(request, absolute=True))
    try:
        send_message(message, mail)
    except MailNotSent as e:
        if e.permanent:
            return _signup_page(request, 400, nxt, "The mail server refused this address. Please check it.", email)
        return _signup_page(request, 503, nxt, "We could not send the email just now; please try again in a few "
                            "minutes.", email)
    return _signup_page(request, 200, nxt, None, "", sent=address)


@router.get("/verify", response_class=HTMLResponse)
def verify(request: Request, t: str | None = None) -> Response:
    """The emailed link: confirms the address (idempotent, so a mail scanner opening it does no harm)."""
    w = web(request)
    try:
        uid, fp = verify_links(request).read(t)
        user = w.accounts.user(uid)
        if user is None or (not user.verified and fingerprint(user.password_hash) != fp):
            raise BadVerifyLink("a later sign-up with this address replaced this link; use the newest email")
        if not user.verified and not w.accounts.mark_verified(user.id, user.password_hash):
            raise BadVerifyLink("the password changed while the link was opened; use the newest email")
    except BadVerifyLink as e:
        return render(request, "error.html", status_code=400, heading="This link is not valid or has expired",
                      message=f"Nothing was changed: {e}.", title="Invalid link · paperfeed")
    return RedirectResponse("/login?verified=1", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, verified: int = 0) -> HTMLResponse:
    notice = "Your address is confirmed. Log in to vote and submit." if verified else None
    return render(request, "login.html", next=safe_next(next), error=None, email="", notice=notice,
                  title="Log in · paperfeed")


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, email: str = Form("", max_length=320), password: str = Form("", max_length=1024),
          csrf_token: str | None = Form(None), next: str = Form("/papers")) -> Response:
    if (blocked := _guard(request, csrf_token, "login")) is not None:
        return blocked
    w = web(request)

    def again(status: int, error: str) -> HTMLResponse:
        return render(request, "login.html", status_code=status, next=safe_next(next), error=error, email=email,
                      title="Log in · paperfeed")

    if (wait := w.throttle.wait(email)) > 0:
        return again(429, f"Too many failed log-ins for this account; try again in {_duration(wait)}.")
    user = w.accounts.user_by_email(email)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        w.throttle.failed(email)
        return again(400, LOGIN_FAILED)
    w.throttle.succeeded(email)
    if needs_rehash(user.password_hash):
        w.accounts.set_password_hash(user.id, hash_password(password))
    if not user.verified:
        return again(400, NOT_VERIFIED)
    _log_in(request, user.id)
    return RedirectResponse(apply_pending(request, user.id) or safe_next(next), status_code=303)


def _duration(seconds: int) -> str:
    return f"{seconds} seconds" if seconds < 120 else f"{(seconds + 59) // 60} minutes"


@router.post("/logout")
def logout(request: Request, csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    sid = request.session.get("sid")
    if isinstance(sid, str):
        web(request).sessions.end(sid)
    request.session.clear()
    return RedirectResponse("/papers", status_code=303)


@router.post("/logout/everywhere")
def logout_everywhere(request: Request, csrf_token: str | None = Form(None)) -> Response:
    """End every session of the account, this one included (a lost phone, a shared computer)."""
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    user = current_user(request)
    if user is not None:
        web(request).sessions.end_all(user.id)
    request.session.clear()
    return RedirectResponse("/papers", status_code=303)


@router.post("/profile/password", response_class=HTMLResponse)
def change_password(request: Request, current_password: str = Form("", max_length=1024),
                    new_password: str = Form("", max_length=1024), csrf_token: str | None = Form(None)) -> Response:
    """A new password; every other session of the account ends (this one stays)."""
    if (blocked := _guard(request, csrf_token, "login")) is not None:
        return blocked
    user = current_user(request)
    if user is None:
        return _need_login(request, "/profile")
    w = web(request)
    if (wait := w.throttle.wait(user.email)) > 0:
        return _profile(request, 429, password_error=f"Too many wrong passwords; try again in {_duration(wait)}.")
    if not verify_password(user.password_hash, current_password):
        w.throttle.failed(user.email)
        return _profile(request, 400, password_error="Your current password was not right; nothing was changed.")
    if (problem := password_problem(new_password, user.email, w.settings.min_password_chars)) is not None:
        return _profile(request, 400, password_error=problem)
    w.accounts.set_password_hash(user.id, hash_password(new_password), changed=True)
    sid = request.session.get("sid")
    w.sessions.end_all(user.id, keep_sid=sid if isinstance(sid, str) else None)
    return RedirectResponse("/profile?changed=1", status_code=303)


def _need_login(request: Request, back: str) -> Response:
    return RedirectResponse(f"/login?next={back}", status_code=303)


@router.post("/papers/{paper_id:path}/upvote")
def upvote(request: Request, paper_id: str, csrf_token: str | None = Form(None),
           next: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, "upvote")) is not None:
        return blocked
    user = current_user(request)
    w = web(request)
    pk = w.pf.store.pk_of(paper_id)
    if pk is None:
        return error_page(request, 404, f"No paper with id {paper_id[:100]!r}.")
    if user is None:  # log in first, then come back here with the vote applied (web/votes.py)
        login = "/login?" + urlencode({"pending": pending_token(request, paper_id, next or "/papers")})
        return JSONResponse({"login": login}, status_code=401) if wants_json(request) else \
            RedirectResponse(login, status_code=303)
    voted = w.community.toggle_vote(user.id, pk)
    if wants_json(request):
        return JSONResponse({"voted": voted, "votes": w.community.vote_counts([pk]).get(pk, 0)})
    return RedirectResponse(safe_next(next), status_code=303)


@router.get("/submit", response_class=HTMLResponse)
def submit_form(request: Request) -> Response:
    if current_user(request) is None:
        return _need_login(request, "/submit")
    day = latest_day(web(request).pf.store)
    return render(request, "submit.html", error=None, paper="", day=day.isoformat(), title="Submit · paperfeed")


@router.post("/submit", response_class=HTMLResponse)
def submit(request: Request, paper: str = Form("", max_length=500), day: str = Form("", max_length=20),
           csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, "submit")) is not None:
        return blocked
    user = current_user(request)
    if user is None:
        return _need_login(request, "/submit")
    w = web(request)

    def again(error: str) -> HTMLResponse:
        return render(request, "submit.html", status_code=400, error=error, paper=paper, day=day,
                      title="Submit · paperfeed")

    try:
        the_day = date.fromisoformat(day.strip()) if day.strip() else latest_day(w.pf.store)
    except ValueError:
        return again("Give the day as YYYY-MM-DD.")
    if (problem := submission_day_problem(the_day)) is not None:
        return again(problem[0].upper() + problem[1:] + ".")
    aid = normalise_arxiv_id(paper)
    if aid is None:
        return again("Give an arXiv id (2503.11731) or an arxiv.org link.")
    pk, problem = find_or_fetch(w.pf.store, aid, w.settings.arxiv_api_url)
    if pk is None:
        return again(problem or f"arXiv {aid} is not available.")
    if not w.community.submit(user.id, pk, the_day):
        return again(f"arXiv {aid} is already on the list of {the_day.isoformat()}.")
    return RedirectResponse(landing_url(w, the_day, pk), status_code=303)  # the page and card it landed on


@router.get("/profile", response_class=HTMLResponse)
def profile(request: Request, changed: int = 0, saved: int = 0) -> Response:
    if current_user(request) is None:
        return _need_login(request, "/profile")
    notice = "Password changed; every other session was logged out." if changed else \
        "Your public profile was saved." if saved else None
    return _profile(request, 200, notice=notice)


def _profile(request: Request, status_code: int, password_error: str | None = None,
             notice: str | None = None, settings_errors: dict[str, str] | None = None,
             settings_form: dict[str, str] | None = None) -> HTMLResponse:
    """/profile; `settings_errors`/`settings_form`: the public-profile form sent back with its problems
    (web/profile_settings.py), else the form shows what is stored."""
    user = current_user(request)
    assert user is not None
    w = web(request)
    voted = w.community.user_votes(user.id)
    subs = w.community.user_submissions(user.id)
    papers = w.pf.store.get_many(list({*voted, *(pk for pk, _ in subs)}))
    upvoted = w.entries([(pk, papers[pk]) for pk in voted if pk in papers], user)
    submitted = [(day, e) for (pk, day) in subs if pk in papers
                 for e in w.entries([(pk, papers[pk])], user)]
    me = people.member(w.pf.store, user.id)
    form = settings_form or {"handle": (me and me.handle) or "", "display_name": (me and me.display_name) or "",
                             "bio": (me and me.bio) or "", "links": "\n".join(me.links if me else [])}
    page = render(request, "profile.html", status_code=status_code, upvoted=upvoted, submitted=submitted,
                  member=me, settings_form=form, settings_errors=settings_errors or {},
                  max_bio=MAX_BIO, max_links=MAX_LINKS, max_handle=MAX_LEN,
                  sessions=w.accounts.live_sessions(user.id), password_error=password_error, notice=notice,
                  min_password=w.settings.min_password_chars, title="Your profile · paperfeed")
    page.headers.update(NO_STORE)
    return page
