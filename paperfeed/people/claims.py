"""Claiming authorship: a member names one of a paper's listed authors; an operator decides, unless a rule does.

A claim is approved at once when the member's email is verified, its domain has an operator rule, and the
rule's pattern (fnmatch, on the author key: lower-case, accents and punctuation removed) matches the name;
otherwise it waits in the queue (/moderation/claims, `paperfeed admin claims`).  Only names actually listed
on the paper can be claimed, and at most one claim per author of a paper is approved (the store enforces it).
"""

from __future__ import annotations

import re
import unicodedata
from fnmatch import fnmatchcase

from paperfeed.store import people
from paperfeed.store.papers import Store


class ClaimError(ValueError):
    """A claim that cannot be made; the message is for the member."""


def author_key(name: str) -> str:
    """How author names are compared: NFKD without accents, lower-case, only letters/digits and single spaces."""
    s = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", s).split())


def pattern_key(pattern: str) -> str:
    """A rule's pattern compared like author names, its '*' wildcards kept ("Ada *" -> "ada *")."""
    return author_key(pattern.replace("*", " qqwildqq ")).replace("qqwildqq", "*")


def matching_rule(store: Store, member_id: int, key: str) -> people.ClaimRule | None:
    m = people.member(store, member_id)
    email = people.email_of(store, member_id)
    if m is None or not m.verified or not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].lower()
    for rule in people.rules(store, domain):
        if fnmatchcase(key, pattern_key(rule.author_pattern)):
            return rule
    return None


def make_claim(store: Store, member_id: int, paper_pk: int, author_name: str) -> people.Claim:
    """File a claim on one of the paper's listed authors (approved at once when a rule matches)."""
    m = people.member(store, member_id)
    if m is None or m.banned_at is not None:
        raise ClaimError("This account cannot claim papers.")
    if not m.verified or m.handle is None:
        raise ClaimError("Choose a handle (and verify your email) before claiming a paper.")
    found = store.get_many([paper_pk]).get(paper_pk)
    key = author_key(author_name)
    listed = next((a for a in (found.authors if found else []) if author_key(a) == key), None) if key else None
    if listed is None:
        raise ClaimError("That name is not among the paper's authors.")
    rule = matching_rule(store, member_id, key)
    if rule is not None:
        made = people.create_claim(store, member_id, paper_pk, listed, key, "approved",
                                   reason=f"auto: rule {rule.id} ({rule.email_domain})")
        if made is not None:
            return made
    made = people.create_claim(store, member_id, paper_pk, listed, key)
    if made is None:
        raise ClaimError("You have already claimed this author on this paper.")
    return made
