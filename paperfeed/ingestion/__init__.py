"""Ingestion: turn sources (files, feeds, saved pages, libraries) into normalised `Paper`s.

Every reader is a generator of `Paper | RecordError`; a reader raises `IngestError`
only when the whole input is unreadable.  Readers never touch the store.
"""
