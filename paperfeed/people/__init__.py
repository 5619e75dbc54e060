"""People policy: what a valid handle is (and when two look alike), who may moderate, when a claim is approved.

SQL is in `paperfeed.store.people`; this package decides.
"""
