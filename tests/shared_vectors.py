"""Real all-MiniLM-L6-v2 embeddings of the shared corpus (`arxiv-cs-2025-2026.minilm.npz`, computed from
`paperfeed.models.embedding_text`), so tests can give papers their vectors without running the model."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from conftest import SHARED

from paperfeed.config import MODEL_NAME

NPZ = SHARED / "arxiv-cs-2025-2026.minilm.npz"


@lru_cache(maxsize=1)
def shared_vectors() -> dict[str, np.ndarray]:
    z = np.load(NPZ)
    return dict(zip(z["ids"].tolist(), z["vectors"].astype(np.float32), strict=True))


def put_shared_embeddings(pf, ids: list[str]) -> int:  # type: ignore[no-untyped-def]
    """Store the shared vectors of these papers (by content hash, as the embedder would); returns how many."""
    vecs = shared_vectors()
    items = []
    for pid in ids:
        p = pf.store.get(pid)
        if p is not None and pid in vecs:
            items.append((p.content_hash(), vecs[pid]))
    pf.store.put_embeddings(MODEL_NAME, items)
    return len(items)
