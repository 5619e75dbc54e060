"""Word features for the recommender: tf-idf on title + abstract only.

Two settings.  `ARXIV_SANITY_TFIDF` is arxiv-sanity-lite's `compute.py` (uni- and bigrams, 20,000
features, min_df 5, max_df 0.1, sublinear tf, l2 norm); the benchmark's SVM baseline uses it.
`RANKER_TFIDF`, what paperfeed ranks with, keeps every uni- and bigram seen in >= 2 papers (710,233
features at 54,002 papers instead of 20,000): the words that tell one group's papers from its field's
(a system's name, a dataset, a bigram like "gaussian splatting") are rare, and the 20,000 cap drops
exactly them.  On the benchmark's tuning windows this alone lifts the tf-idf Rocchio term's nDCG@10
from 0.151 to 0.182 (bench/README.md "Recommendations").  Author names are left out of the text: on the
author-continuation benchmark they give the answer away, and in the product follows of authors are
their own signal with their own reason.  Fitting on 54,000 papers takes ~90 s of CPU, so the matrix is
built once per corpus and kept; a reader's ranking only reads rows of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

_COMMON: dict[str, object] = {
    "strip_accents": "unicode", "lowercase": True, "analyzer": "word", "stop_words": "english",
    "token_pattern": r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b", "ngram_range": (1, 2), "norm": "l2", "use_idf": True,
    "smooth_idf": True, "sublinear_tf": True, "max_df": 0.1,
}
ARXIV_SANITY_TFIDF: Mapping[str, object] = {**_COMMON, "max_features": 20000, "min_df": 5}
RANKER_TFIDF: Mapping[str, object] = {**_COMMON, "max_features": None, "min_df": 2}


def fit_tfidf(texts: Sequence[str], settings: Mapping[str, object] = RANKER_TFIDF,
              ) -> tuple[TfidfVectorizer, sp.csr_matrix]:
    """The fitted vectoriser (to transform papers added later) and the float32 matrix (rows = texts)."""
    v = TfidfVectorizer(dtype=np.float32, **settings)  # type: ignore[arg-type]
    return v, v.fit_transform(list(texts)).tocsr()
