"""paperfeed: a self-hostable research-paper discovery service.

Data flows one way: ingestion (sources -> normalised papers) -> store (source of
truth) -> search indexes (derived, rebuildable) -> ranking -> pages/emails.
"""

__version__ = "0.1.0"
