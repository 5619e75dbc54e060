#!/usr/bin/env bash
# Run paperfeed (embedded default: one SQLite file, no server to install).  With no arguments it serves
# the papers site on http://127.0.0.1:8000.  Serving, with or without options (`./run.sh --port 8080`,
# `./run.sh serve --host 0.0.0.0 --port 8080`), ingests $PAPERFEED_SOURCES on an empty database first,
# by default the shared corpus when it is there.  Any other paperfeed command works too:
#   ./run.sh ingest ../shared/data/arxiv-cs-2025-2026.jsonl.gz   ./run.sh search '"gaussian splatting"'
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/scripts/bootstrap.sh"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# Is this a serve?  No arguments, options only (`--port N`: serve's options; `--db FILE` may come first),
# or the `serve` command after any `--db FILE`.  `--help` alone stays paperfeed's own help.
serving=0 rest=("$@") pre=()
while [ ${#rest[@]} -gt 0 ] && [ "${rest[0]}" = "--db" ] && [ ${#rest[@]} -ge 2 ]; do
  pre+=("${rest[0]}" "${rest[1]}"); rest=("${rest[@]:2}")
done
if [ ${#rest[@]} -eq 0 ]; then
  serving=1; rest=(serve)
elif [ "${rest[0]}" = "serve" ]; then
  serving=1
elif [[ "${rest[0]}" == -* ]] && [ "${rest[0]}" != "--help" ] && [ "${rest[0]}" != "-h" ]; then
  serving=1; rest=(serve "${rest[@]}")
fi
if [ "$serving" -eq 1 ]; then
  shared="$here/../shared/data/arxiv-cs-2025-2026.jsonl.gz"
  if [ -z "${PAPERFEED_SOURCES+x}" ] && [ -f "$shared" ]; then export PAPERFEED_SOURCES="$shared"; fi
fi
exec "$here/.venv/bin/paperfeed" ${pre[@]+"${pre[@]}"} "${rest[@]}"
