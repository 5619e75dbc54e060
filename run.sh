#!/usr/bin/env bash
# Run paperfeed (embedded default: one SQLite file, no server to install).  Any paperfeed arguments work:
#   ./run.sh ingest ../shared/data/arxiv-cs-2025-2026.jsonl.gz   ./run.sh search '"gaussian splatting"'
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/scripts/bootstrap.sh"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if [ $# -eq 0 ]; then set -- status; fi
exec "$here/.venv/bin/paperfeed" "$@"
