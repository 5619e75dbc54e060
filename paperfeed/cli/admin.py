"""`paperfeed admin …`: the operator's tools for people: author claims, auto-approve rules, roles, bans.

Every command names members by handle (never by email) and prints one line per item, so it can be read
and scripted; a wrong handle or claim id is one line on stderr and exit 1, and nothing is changed.
"""

from __future__ import annotations

from typing import Annotated

import typer

from paperfeed.cli.common import UserError, open_core
from paperfeed.store import people

admin_app = typer.Typer(no_args_is_help=True, help="People: author claims, roles, bans.")
claims_app = typer.Typer(no_args_is_help=True, help="Author claims: list, approve, reject; auto-approve rules.")
admin_app.add_typer(claims_app, name="claims")


def _pf(ctx: typer.Context):  # type: ignore[no-untyped-def]
    return open_core(ctx.find_root().params.get("db"))


def _member_id(store, handle: str) -> int:  # type: ignore[no-untyped-def]
    from paperfeed.people.handles import normalise

    m = people.member_by_handle(store, normalise(handle).lstrip("@"))
    if m is None:
        raise UserError(f"no member has the handle {handle!r}")
    return m.id


@claims_app.command("list")
def claims_list(ctx: typer.Context,
                status: Annotated[str, typer.Option(help="pending, approved, rejected or all")] = "pending") -> None:
    """Claims, oldest first: id, status, handle, paper id, author name (tab-separated)."""
    if status not in (*people.CLAIM_STATUSES, "all"):
        raise UserError("--status must be pending, approved, rejected or all")
    pf = _pf(ctx)
    try:
        found = people.claims(pf.store, None if status == "all" else status, limit=10_000)
        handles = people.handles_of(pf.store, [c.user_id for c in found])
        ids = pf.store.ids_of([c.paper_pk for c in found])
        for c in found:
            typer.echo("\t".join([str(c.id), c.status, handles.get(c.user_id, f"member{c.user_id}"),
                                  ids.get(c.paper_pk, "?"), c.author_name]))
    finally:
        pf.close()


def _decide(ctx: typer.Context, claim_id: int, status: str, reason: str | None) -> None:
    pf = _pf(ctx)
    try:
        c = people.claim(pf.store, claim_id)
        if c is None:
            raise UserError(f"no claim {claim_id}")
        if not people.decide_claim(pf.store, claim_id, status, decided_by=None, reason=reason or "operator (CLI)"):
            raise UserError(f"claim {claim_id} is {c.status}, not pending" if c.status != "pending"
                            else f"claim {claim_id}: another claim on {c.author_name!r} is approved already")
        typer.echo(f"claim {claim_id} {status}")
    finally:
        pf.close()


@claims_app.command("approve")
def claims_approve(ctx: typer.Context, claim_id: int,
                   reason: Annotated[str | None, typer.Option(help="Kept with the decision.")] = None) -> None:
    """Approve a pending claim: the author's name on the paper becomes a link to the member's profile."""
    _decide(ctx, claim_id, "approved", reason)


@claims_app.command("reject")
def claims_reject(ctx: typer.Context, claim_id: int,
                  reason: Annotated[str | None, typer.Option(help="Kept with the decision.")] = None) -> None:
    """Reject a pending claim."""
    _decide(ctx, claim_id, "rejected", reason)


@claims_app.command("rule")
def claims_rule(ctx: typer.Context,
                domain: Annotated[str, typer.Argument(help="Email domain of verified members, e.g. uni.example.edu")],
                pattern: Annotated[str, typer.Argument(help="Author names (fnmatch, e.g. '* smith'; '*' = any)")]
                = "*") -> None:
    """Auto-approve claims by verified members whose email is at DOMAIN on author names matching PATTERN."""
    d = domain.strip().lower().lstrip("@")
    if not d or "." not in d or any(c.isspace() or c in "@/" for c in d):
        raise UserError(f"not an email domain: {domain!r}")
    pf = _pf(ctx)
    try:
        from paperfeed.people.claims import approve_pending

        r = people.add_rule(pf.store, d, pattern.strip() or "*", created_by="cli")
        if r is None:
            typer.echo("that rule exists already")
            return
        approved = approve_pending(pf.store)  # a new rule also settles the waiting claims it matches
        n = len(approved)
        settled = f"{n} pending claim{'' if n == 1 else 's'} approved"
        typer.echo(f"rule {r.id}: {r.email_domain} {r.author_pattern} ({settled})")
    finally:
        pf.close()


@claims_app.command("rules")
def claims_rules(ctx: typer.Context) -> None:
    """The auto-approve rules: id, domain, pattern."""
    pf = _pf(ctx)
    try:
        for r in people.rules(pf.store):
            typer.echo(f"{r.id}\t{r.email_domain}\t{r.author_pattern}")
    finally:
        pf.close()


@claims_app.command("unrule")
def claims_unrule(ctx: typer.Context, rule_id: int) -> None:
    """Delete an auto-approve rule (claims it approved stay approved)."""
    pf = _pf(ctx)
    try:
        if not people.delete_rule(pf.store, rule_id):
            raise UserError(f"no rule {rule_id}")
        typer.echo(f"rule {rule_id} deleted")
    finally:
        pf.close()


@admin_app.command("role")
def role(ctx: typer.Context, handle: str,
         new_role: Annotated[str, typer.Argument(metavar="ROLE", help="member, moderator or operator")]) -> None:
    """Give the member a role."""
    if new_role not in people.ROLES:
        raise UserError("ROLE must be member, moderator or operator")
    pf = _pf(ctx)
    try:
        people.set_role(pf.store, _member_id(pf.store, handle), new_role)
        typer.echo(f"{handle}: {new_role}")
    finally:
        pf.close()


@admin_app.command("ban")
def ban(ctx: typer.Context, handle: str,
        reason: Annotated[str, typer.Option(help="Kept with the ban (never shown).")] = "",
        undo: Annotated[bool, typer.Option("--undo", help="Lift the ban.")] = False) -> None:
    """Ban a member (their sessions end, their profile and author links disappear), or lift a ban."""
    from paperfeed.store.accounts import AccountStore

    pf = _pf(ctx)
    try:
        uid = _member_id(pf.store, handle)
        if undo:
            people.unban(pf.store, uid)
            typer.echo(f"{handle}: ban lifted")
            return
        people.ban(pf.store, uid, reason)
        ended = AccountStore(pf.store).revoke_sessions(uid)
        typer.echo(f"{handle}: banned ({ended} sessions ended)")
    finally:
        pf.close()
