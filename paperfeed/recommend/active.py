"""Active learning for cold start: which k papers should a new member rate to teach the ranker most.

Two ingredients, combined greedily:

* uncertainty: with some likes, a candidate's ranker score (recommend/ranker.score_rows, z-scored over
  the pool) is compared to the boundary of what would be shown (the score at the top `shown` fraction);
  papers near that boundary are the ones whose rating changes the list.  With no likes at all every
  paper is equally uncertain and only diversity counts.
* diversity: each next pick is discounted by its largest embedding cosine to the papers already
  picked (and to the likes), so k picks cover k different topics instead of k near-duplicates.

Deterministic: ties go to the smaller row.  Not yet measured against k random picks on the
author-continuation readers (bench) - see the report of branch recmap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from paperfeed.recommend.features import PaperFeatures
from paperfeed.recommend.ranker import score_rows

SHOWN = 0.05  # the boundary: a digest shows roughly the top 5% of a week's candidates
DIVERSITY = 1.0
TYPICAL = 0.3  # cold start: a small pull towards typical papers; more and the picks crowd the centre


def choose_to_rate(pf: PaperFeatures, pool: Sequence[str], k: int, liked: Sequence[str] = (),
                   dismissed: Sequence[str] = ()) -> list[str]:
    """Up to `k` ids of `pool` (unknown ids ignored; liked/dismissed ones never offered again)."""
    seen = set(liked) | set(dismissed)
    ids = [p for p in pool if p in pf.index and p not in seen]
    if k <= 0 or not ids:
        return []
    rows = pf.rows(ids)
    like_rows, dis_rows = pf.rows(list(liked)), pf.rows(list(dismissed))
    vec = pf.vectors[rows]
    if len(like_rows):
        s = score_rows(pf, like_rows, dis_rows, rows)
        boundary = np.quantile(s, 1 - SHOWN)
        uncertainty = 1.0 / (1.0 + np.abs(s - boundary))
    else:
        # no model yet: prefer typical papers (near the pool's mean direction) over outliers
        uncertainty = (vec @ vec.mean(axis=0)).astype(np.float64)
        uncertainty = TYPICAL * (uncertainty - uncertainty.min()) / (np.ptp(uncertainty) or 1.0)
    near = np.full(len(rows), -1.0)
    if len(like_rows) or len(dis_rows):
        known = pf.vectors[np.concatenate([like_rows, dis_rows])]
        near = (vec @ known.T).max(axis=1).astype(np.float64)
    chosen: list[int] = []
    for _ in range(min(k, len(ids))):
        gain = uncertainty - DIVERSITY * np.maximum(near, 0.0)
        gain[chosen] = -np.inf
        i = int(np.argmax(gain))
        chosen.append(i)
        near = np.maximum(near, vec @ vec[i])
    return [ids[i] for i in chosen]
