"""`/outbox`: the local outbox (mail/outbox.py) for the site's operator, so that subscribing can be tried
on a fresh install with no mail server: open the confirmation email here and follow its link.

Only from this machine: the messages hold signed links (confirm, preferences, unsubscribe) that are
credentials for other people's subscriptions.  A request is local when its peer address is a loopback
address (127.0.0.0/8, ::1) AND it carries no forwarding header (`Forwarded`, `X-Forwarded-For`,
`X-Real-IP`): a reverse proxy on the same host connects from 127.0.0.1 on behalf of remote visitors, and
proxies add those headers, so such a request is refused too.  (`paperfeed serve` does not trust proxy
headers: `request.client` is the TCP peer.)  Everyone else gets 403.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from paperfeed.mail.outbox import count_messages, list_messages, read_message
from paperfeed.web.context import error_page, render, web

router = APIRouter(include_in_schema=False)
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
_URL = re.compile(r"https?://[^\s<>\"']+")


def is_local(request: Request) -> bool:
    if any(h in request.headers for h in FORWARDING_HEADERS):
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def linkify(text: str) -> Markup:
    """Plain text, escaped, with its http(s) URLs as links (the outbox shows emails' links clickable)."""
    out, last = [], 0
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(".,;:)")
        out.append(escape(text[last : m.start()]))
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        last = m.start() + len(url)
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _refused(request: Request) -> HTMLResponse:
    return error_page(request, 403, "The outbox is shown only to this site's operator: open it on the machine "
                      "that runs paperfeed (http://127.0.0.1…/outbox), not through a proxy.")


def _settings(request: Request):  # type: ignore[no-untyped-def]
    return web(request).settings.mail


@router.get("/outbox", response_class=HTMLResponse)
def outbox_list(request: Request) -> HTMLResponse:
    if not is_local(request):
        return _refused(request)
    mail = _settings(request)
    folder = mail.outbox if mail is not None else None
    messages = list_messages(Path(folder)) if folder else []
    total = count_messages(Path(folder)) if folder else 0
    return render(request, "outbox.html", messages=messages, total=total, folder=folder, mail=mail,
                  title="Outbox · paperfeed")


@router.get("/outbox/{name}", response_class=HTMLResponse)
def outbox_message(request: Request, name: str) -> HTMLResponse:
    if not is_local(request):
        return _refused(request)
    mail = _settings(request)
    msg = read_message(Path(mail.outbox), name) if mail is not None and mail.outbox else None
    if msg is None:
        return error_page(request, 404, "There is no such message in the outbox.")
    return render(request, "outbox_message.html", msg=msg, body=linkify(msg.text), title=f"{msg.subject} · outbox")
