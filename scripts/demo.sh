#!/usr/bin/env bash
# demo.sh - the quick start: install what is missing, build, train an ALS model
# on the embedded demo data set (synthetic users and a self-written catalogue),
# and serve it on port 8080 (PORT=... to change). Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target encore-train encore-server
rm -rf demo-repo demo-data
./build/encore-train demo-data --dir demo-data
./build/encore-train als --interactions demo-data/interactions.tsv --items demo-data/items.csv \
  --out demo-repo/demo
echo
echo "Serving demo-repo on http://127.0.0.1:${PORT:-8080} - try:"
echo "  curl -s -H 'Content-Type: application/json' -d '{\"user\":\"1\",\"k\":5}' http://127.0.0.1:${PORT:-8080}/v1/models/demo:recommend"
echo
exec ./build/encore-server --models demo-repo --port "${PORT:-8080}"
