#!/usr/bin/env bash
# Install everything the tests need, lint, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh test
scripts/ensure_chromium.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check paperfeed tests bench
.venv/bin/mypy  # the seams named in pyproject.toml [tool.mypy]
exec .venv/bin/python -m pytest -q "$@"
