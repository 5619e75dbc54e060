#!/usr/bin/env bash
# Run paperfeed (embedded default: one SQLite file, no server to install).  With no arguments it serves
# the papers site on http://127.0.0.1:8000; on an empty database it first ingests $PAPERFEED_SOURCES,
# by default the shared corpus when it is there.  Any paperfeed arguments work too:
#   ./run.sh ingest ../shared/data/arxiv-cs-2025-2026.jsonl.gz   ./run.sh search '"gaussian splatting"'
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/scripts/bootstrap.sh"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if [ $# -eq 0 ]; then
  shared="$here/../shared/data/arxiv-cs-2025-2026.jsonl.gz"
  if [ -z "${PAPERFEED_SOURCES+x}" ] && [ -f "$shared" ]; then export PAPERFEED_SOURCES="$shared"; fi
  set -- serve
fi
exec "$here/.venv/bin/paperfeed" "$@"
