"""Claiming authorship: a member names one of a paper's listed authors; an operator decides, unless a rule does.

A claim is approved at once when the member's email is verified, its domain has an operator rule, and the
rule's pattern (fnmatch, on the author key: lower-case, accents and punctuation removed) matches the name;
otherwise it waits in the queue (/moderation/claims, `paperfeed admin claims`).  Only names actually listed
on the paper can be claimed, and at most one claim per author of a paper is approved (the store enforces it).

A member must verify their email (and choose a handle) before claiming, so an unverified address never
auto-approves and no pending claim waits on a verification.  A rule added later is applied to the pending
queue at once (`approve_pending`): the operator sees "rule added, N pending claims approved".
Decisions on the site go to the moderation log (`decide`), next to the discussion's hide/ban entries.
"""

from __future__ import annotations

import re
import unicodedata
from fnmatch import fnmatchcase

from paperfeed.store import people
from paperfeed.store.papers import Store


class ClaimError(ValueError):
    """A claim that cannot be made; the message is for the member, `status` the HTTP status that says why
    (400: not possible as asked, 403: this account may not, 409: it conflicts with an existing claim)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


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
        raise ClaimError("This account cannot claim papers.", 403)
    if not m.verified or m.handle is None:
        raise ClaimError("Choose a handle (and verify your email) before claiming a paper.", 403)
    found = store.get_many([paper_pk]).get(paper_pk)
    key = author_key(author_name)
    listed = next((a for a in (found.authors if found else []) if author_key(a) == key), None) if key else None
    if listed is None:
        raise ClaimError("That name is not among the paper's authors.")
    own = next((c for c in people.claims_on_paper(store, member_id, paper_pk) if c.author_key == key), None)
    if own is not None:
        if own.status == "rejected":
            raise ClaimError(f"Your claim on {listed} was rejected" + (f" ({own.reason})" if own.reason else "")
                             + "; write to an operator if that is wrong.", 409)
        raise ClaimError("You have already claimed this author on this paper.", 409)
    holder = people.approved_claim(store, paper_pk, key)
    if holder is not None:
        raise ClaimError(f"{listed} is already claimed by another member; ask an operator if that is wrong.", 409)
    rule = matching_rule(store, member_id, key)
    if rule is not None:
        made = people.create_claim(store, member_id, paper_pk, listed, key, "approved",
                                   reason=auto_reason(rule))
        if made is not None:
            return made
    made = people.create_claim(store, member_id, paper_pk, listed, key)
    if made is None:
        raise ClaimError("You have already claimed this author on this paper.", 409)
    return made


def auto_reason(rule: people.ClaimRule) -> str:
    return f"auto: rule {rule.id} ({rule.email_domain})"


def approve_pending(store: Store) -> list[people.Claim]:
    """Approve every pending claim a rule now matches (run when a rule is added); the claims approved.
    A claim whose author another member holds already stays pending, for an operator to reject."""
    done = []
    for c in people.claims(store, "pending", limit=100_000):
        rule = matching_rule(store, c.user_id, c.author_key)
        if rule is not None and people.decide_claim(store, c.id, "approved", None, auto_reason(rule)):
            done.append(c)
    return done


def decide(store: Store, claim_id: int, status: str, actor_id: int, reason: str = "") -> str | None:
    """An operator's decision on the site, logged in the moderation log; None when done, else why not."""
    from paperfeed.store import discussion

    c = people.claim(store, claim_id)
    if c is None:
        return f"There is no claim {claim_id}."
    if c.status != "pending":
        return f"Claim {claim_id} was {c.status} already."
    if not people.decide_claim(store, claim_id, status, actor_id, reason or None):
        return f"Another member's claim on {c.author_name} is approved already; reject this one."
    pid = store.ids_of([c.paper_pk]).get(c.paper_pk, "?")
    note = f"claim {c.id}: {c.author_name} on {pid}" + (f": {reason}" if reason else "")
    discussion.log_action(store, actor_id, "claim " + ("approve" if status == "approved" else "reject"),
                          target_user_id=c.user_id, note=note)
    return None
