"""Account policy: passwords, email addresses, sessions, log-in throttling, address verification.

No SQL here (that is `paperfeed.store.accounts` and `paperfeed.store.ratelimits`); these modules decide.
"""
