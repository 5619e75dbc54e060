"""Accounts and community actions: sign up, log in, log out, profile, upvote, submit.

Every POST checks the session's CSRF token first (403 without it) and the action's rate limit
(429).  A failed log-in says the same thing whether the email is unknown or the password wrong,
and sign-up for a taken email gives no detail either, so errors never reveal who has an account.
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from paperfeed.models import normalise_arxiv_id
from paperfeed.web.context import client_key, current_user, error_page, render, web
from paperfeed.web.fetch import find_or_fetch
from paperfeed.web.listing import latest_day, submission_day_problem
from paperfeed.web.pages import landing_url
from paperfeed.web.security import csrf_ok, hash_password, needs_rehash, verify_password
from paperfeed.web.votes import apply_pending, pending_token, wants_json

router = APIRouter(include_in_schema=False)

LOGIN_FAILED = "Wrong email or password."
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}")


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
    request.session.clear()  # a new session on log-in: no fixation
    request.session["uid"] = user_id


@router.get("/signup", response_class=HTMLResponse)
def signup_form(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "signup.html", next=safe_next(next), error=None, email="", title="Sign up · paperfeed")


@router.post("/signup", response_class=HTMLResponse)
def signup(request: Request, email: str = Form("", max_length=320), password: str = Form("", max_length=1024),
           csrf_token: str | None = Form(None), next: str = Form("/papers")) -> Response:
    if (blocked := _guard(request, csrf_token, "signup")) is not None:
        return blocked
    w = web(request)
    error = None
    if not _EMAIL.fullmatch(email.strip()):
        error = "Enter a valid email address."
    elif len(password) < w.settings.min_password_chars:
        error = f"Choose a password of at least {w.settings.min_password_chars} characters."
    else:
        user = w.community.create_user(email, hash_password(password))
        if user is None:
            error = "Could not create an account with these details. If you already have one, log in."
        else:
            _log_in(request, user.id)
            return RedirectResponse(apply_pending(request, user.id) or safe_next(next), status_code=303)
    return render(request, "signup.html", status_code=400, next=safe_next(next), error=error, email=email,
                  title="Sign up · paperfeed")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", next=safe_next(next), error=None, email="", title="Log in · paperfeed")


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, email: str = Form("", max_length=320), password: str = Form("", max_length=1024),
          csrf_token: str | None = Form(None), next: str = Form("/papers")) -> Response:
    if (blocked := _guard(request, csrf_token, "login")) is not None:
        return blocked
    w = web(request)
    user = w.community.user_by_email(email)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        return render(request, "login.html", status_code=400, next=safe_next(next), error=LOGIN_FAILED,
                      email=email, title="Log in · paperfeed")
    if needs_rehash(user.password_hash):
        w.community.set_password_hash(user.id, hash_password(password))
    _log_in(request, user.id)
    return RedirectResponse(apply_pending(request, user.id) or safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, None)) is not None:
        return blocked
    request.session.clear()
    return RedirectResponse("/papers", status_code=303)


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
def profile(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return _need_login(request, "/profile")
    w = web(request)
    voted = w.community.user_votes(user.id)
    subs = w.community.user_submissions(user.id)
    papers = w.pf.store.get_many(list({*voted, *(pk for pk, _ in subs)}))
    upvoted = w.entries([(pk, papers[pk]) for pk in voted if pk in papers], user)
    submitted = [(day, e) for (pk, day) in subs if pk in papers
                 for e in w.entries([(pk, papers[pk])], user)]
    return render(request, "profile.html", upvoted=upvoted, submitted=submitted, title="Your profile · paperfeed")
