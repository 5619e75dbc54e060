"""What a member may put on their public profile: a display name, a short bio, a few links.

Checks only (no storage: `store/people.py` keeps what passes).  Everything is stored and shown as plain
text: the bio is never rendered as Markdown or HTML (templates escape it, newlines kept by CSS), so a bio
of `<script>` shows as those characters.  Links must be absolute http(s) URLs with a host (the rule
`paperfeed.urls.safe_link` applies to every outside link on the site), so `javascript:`, `data:` and
relative URLs are refused with a message naming the link, not silently dropped.  Pages print them with
rel="nofollow ugc noopener": a member's link is user content, not the site's endorsement.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from paperfeed.people.handles import clean_display_name, display_name_key, display_name_problem
from paperfeed.urls import safe_link

MAX_BIO = 500  # characters: a few sentences, like a conference bio line
MAX_LINKS = 5
MAX_LINK = 300  # characters per link (urls.MAX_LINK_CHARS is for ingested paper links)


class ProfileError(ValueError):
    """Fields that cannot be saved; `problems` maps a field name to the reason, in words for the member."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(problems.values()))
        self.problems = problems


@dataclass(frozen=True)
class Profile:
    display_name: str | None
    bio: str | None
    links: list[str] = field(default_factory=list)


def clean_bio(raw: str) -> str:
    """NFC, Windows newlines made plain, trailing spaces of lines and blank lines at both ends dropped."""
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n ")


def bio_problem(bio: str) -> str | None:
    if len(bio) > MAX_BIO:
        return f"A bio is at most {MAX_BIO} characters (this one has {len(bio)})."
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cn") and c != "\n" for c in bio):
        return "A bio cannot contain control or invisible characters."
    return None


def parse_links(raw: str) -> tuple[list[str], str | None]:
    """The links of a textarea (one per line, blank lines ignored, duplicates kept once) and a problem."""
    links: list[str] = []
    for line in raw.replace("\r", "\n").split("\n"):
        url = line.strip()
        if url and url not in links:
            links.append(url)
    if len(links) > MAX_LINKS:
        return links, f"At most {MAX_LINKS} links."
    for url in links:
        shown = url if len(url) <= 60 else url[:57] + "..."
        if len(url) > MAX_LINK:
            return links, f"A link is at most {MAX_LINK} characters: {shown}"
        if safe_link(url) is None:
            return links, f"Links must be http:// or https:// addresses: {shown!r} is not."
    return links, None


def validate_profile(display_name: str, bio: str, links: str, own_key: str | None,
                     handle_holder: int | None, member_id: int) -> Profile:
    """The cleaned profile, or ProfileError with every field's problem.  `handle_holder`: the member (if any)
    whose handle has the display name's skeleton (`handles.display_name_key`), so that a display name
    cannot pass for another member's handle."""
    name = clean_display_name(display_name)
    text = clean_bio(bio)
    urls, link_problem = parse_links(links)
    problems: dict[str, str] = {}
    taken = handle_holder is not None and handle_holder != member_id
    if (p := display_name_problem(name, own_key, taken)) is not None:
        problems["display_name"] = p
    if (p := bio_problem(text)) is not None:
        problems["bio"] = p
    if link_problem is not None:
        problems["links"] = link_problem
    if problems:
        raise ProfileError(problems)
    return Profile(name or None, text or None, urls)


__all__ = ["MAX_BIO", "MAX_LINKS", "Profile", "ProfileError", "display_name_key", "parse_links",
           "validate_profile"]
