"""POST /profile/settings: a member's handle, display name, bio and links (the form on /profile).

The whole form is checked before anything is written, so a bad link does not leave a half-saved profile;
on success it redirects to /profile?saved=1 (POST-redirect-GET), on failure it shows /profile again with
each field's reason and what was typed (status 400).  A handle is refused with a reason: invalid
characters or mixed alphabets (`people.handles.validate`), reserved, taken, or a look-alike of a taken one
(its TR39 skeleton is someone else's: the message names that handle, which is public anyway).  The
database has the last word: two members racing for one handle get one winner and the other "taken".
CSRF token and the `profile` rate limit as every POST (`accounts._guard`).
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from paperfeed.people.handles import HandleError, display_name_key, skeleton, validate
from paperfeed.people.profiles import MAX_BIO, ProfileError, validate_profile
from paperfeed.store import people
from paperfeed.store.papers import Store
from paperfeed.store.people import Member
from paperfeed.web.accounts import _guard, _need_login, _profile
from paperfeed.web.context import current_user, web

router = APIRouter(include_in_schema=False)


def handle_problem(store: Store, me: Member, raw: str) -> tuple[str | None, str | None, str | None]:
    """(handle, key, problem) for the handle field: (None, None, None) when it is left as it was."""
    if not raw.strip():
        if me.handle:
            return None, None, "A handle cannot be removed once chosen; you can change it."
        return None, None, None
    try:
        h, key = validate(raw)
    except HandleError as e:
        return None, None, str(e)
    if h == me.handle:
        return None, None, None
    holder = people.member_by_handle_key(store, key)
    if holder is not None and holder.id != me.id:
        if holder.handle == h:
            return None, None, f"The handle {h} is taken."
        return None, None, f"{h} looks too much like the handle {holder.handle}, which is taken."
    return h, key, None


@router.post("/profile/settings")
def save_settings(request: Request, handle: str = Form("", max_length=200),
                  display_name: str = Form("", max_length=400), bio: str = Form("", max_length=4 * MAX_BIO),
                  links: str = Form("", max_length=4000), csrf_token: str | None = Form(None)) -> Response:
    if (blocked := _guard(request, csrf_token, "profile")) is not None:
        return blocked
    user = current_user(request)
    if user is None:
        return _need_login(request, "/profile")
    store = web(request).pf.store
    me = people.member(store, user.id)
    if me is None:
        return _need_login(request, "/profile")
    errors: dict[str, str] = {}
    new_handle, new_key, problem = handle_problem(store, me, handle)
    if problem:
        errors["handle"] = problem
    own_key = new_key or (skeleton(me.handle) if me.handle else None)
    holder = people.member_by_handle_key(store, display_name_key(display_name)) if display_name.strip() else None
    try:
        profile = validate_profile(display_name, bio, links, own_key, holder.id if holder else None, me.id)
    except ProfileError as e:
        errors.update(e.problems)
    if errors:
        form = {"handle": handle, "display_name": display_name, "bio": bio, "links": links}
        return _profile(request, 400, settings_errors=errors, settings_form=form)
    if new_handle is not None and new_key is not None and not people.set_handle(store, me.id, new_handle, new_key):
        form = {"handle": handle, "display_name": display_name, "bio": bio, "links": links}
        return _profile(request, 400, settings_errors={"handle": f"The handle {new_handle} is taken."},
                        settings_form=form)
    people.set_profile(store, me.id, profile.display_name, profile.bio, profile.links)
    return RedirectResponse("/profile?saved=1", status_code=303)
