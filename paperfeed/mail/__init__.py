"""Email digests: "trending papers in your inbox", personalised, delivered exactly once.

Data flows one way, like the rest of paperfeed: store -> (search, ranking) -> digest -> SMTP.

    settings.py       SMTP and site settings, from the environment (no secrets in the repo)
    links.py          signed, expiring tokens for confirm / preferences / unsubscribe links
    subscriptions.py  subscribers and what they follow (searches, authors, categories); double opt-in
    schedule.py       which (subscriber, period) digests are due at a given instant (time zones, DST, weekends)
    digest.py         what goes in a digest: sections, picks and the reason for each, no repeats
    render.py         a digest as a multipart/alternative email (plain text + inline-styled HTML)
    ledger.py         the durable delivery ledger (`digests` table): plan, claim, mark sent / retry / failed
    smtp.py           one SMTP session: send, classify failures as transient or permanent
    runner.py         `paperfeed digest run`: plan what is due, build, send, record; also run by `serve`

Tables: `subscribers`, `follows`, `digests`, `digest_items` (migration 0003, `paperfeed/store/schema.py`).
"""
