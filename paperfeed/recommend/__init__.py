"""Personal recommendations: pure functions from a reader's signals to ranked picks with reasons.

Shared by the site, the API, the feeds and the digest (issue 11).  Speaks no SQL: the store supplies
`Signals`; the corpus side (`PaperFeatures`: embeddings, tf-idf, categories) is built once per corpus.
"""

from paperfeed.recommend.features import PaperFeatures, fold_name
from paperfeed.recommend.ranker import DEFAULT_WEIGHTS, FEATURES, Pick, recommend, score_rows
from paperfeed.recommend.signals import Like, Signals
from paperfeed.recommend.text import ARXIV_SANITY_TFIDF, RANKER_TFIDF, fit_tfidf

__all__ = ["DEFAULT_WEIGHTS", "FEATURES", "ARXIV_SANITY_TFIDF", "RANKER_TFIDF", "Like", "PaperFeatures", "Pick", "Signals",
           "fit_tfidf", "fold_name", "recommend", "score_rows"]
