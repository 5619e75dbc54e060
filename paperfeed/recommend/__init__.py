"""Personal recommendations: pure functions from a reader's signals to ranked picks with reasons.

Shared by the site, the API, the feeds and the digest (issue 11).  Speaks no SQL: the store supplies
`Signals`; the corpus side (`PaperFeatures`: embeddings, tf-idf, categories) is built once per corpus.
"""

from paperfeed.recommend.features import PaperFeatures, fold_name
from paperfeed.recommend.ranker import (
    DEFAULT_WEIGHTS,
    FEATURES,
    Candidates,
    Pick,
    candidates_of,
    recommend,
    score_rows,
)
from paperfeed.recommend.signals import Like, Signals
from paperfeed.recommend.text import ARXIV_SANITY_TFIDF, RANKER_TFIDF, fit_tfidf

__all__ = ["ARXIV_SANITY_TFIDF", "DEFAULT_WEIGHTS", "FEATURES", "RANKER_TFIDF", "Candidates", "Like",
           "PaperFeatures", "Pick", "Signals", "candidates_of", "fit_tfidf", "fold_name", "recommend", "score_rows"]
