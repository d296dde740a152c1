#!/usr/bin/env bash
# e2e_model_format.sh - docs/model-format.md's numpy-only reader must read a
# trained model and reproduce the server's ranking exactly.
. "$(dirname "$0")/lib/e2e.sh"
e2e_init "$1"
e2e_need python3-numpy /usr/bin/python3 -c 'import numpy'
"$BUILD/encore-train" demo-data --dir "$T/data" 2>/dev/null || exit 1
"$BUILD/encore-train" als --interactions "$T/data/interactions.tsv" --items "$T/data/items.csv" \
  --out "$T/repo/demo" --factors 8 --iterations 4 2>/dev/null || exit 1
e2e_start_server --models "$T/repo" --drain-seconds 0 || exit 1
for USER_ID in $(cut -f1 "$T/data/interactions.tsv" | sort -u | head -5); do
  want=$(/usr/bin/python3 "$(dirname "$0")/model_format_reader.py" "$T/repo/demo/1/model.safetensors" "$USER_ID" 10)
  req POST /v1/models/demo:recommend "{\"user\":\"$USER_ID\",\"k\":10}"
  got=$(json '" ".join(i["item"] for i in j["items"])')
  check "numpy ranking = server ranking for user $USER_ID" "$want" "$got"
done
e2e_finish
