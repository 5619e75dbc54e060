"""No model-loading noise on the terminal: transformers draws a "Loading weights" progress bar (and may
log advisory warnings) every time the embedding model loads, i.e. on every `search`, in every web worker
on its first query and in the background embedder.  The progress bars the user asked for are paperfeed's
own (rich, on stderr); these are not.

Environment variables rather than calls, because they must be in place before `huggingface_hub` /
`transformers` are imported (both read them at import), and because child processes (web workers, the
embedder) inherit them.  A value the user set wins.
"""

from __future__ import annotations

import logging
import sys

from paperfeed import process_settings

QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # read by huggingface_hub, which transformers' tqdm follows
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",  # else a warning when a process forks after tokenising
}


def quiet_model_loading() -> None:
    process_settings.set_defaults(QUIET_ENV)
    if "huggingface_hub" in sys.modules and process_settings.get("HF_HUB_DISABLE_PROGRESS_BARS") == "1":
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as tlog

        tlog.disable_progress_bar()
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
