#!/usr/bin/env bash
# sec_model_files.sh - hostile model files on disk (issue #20). Each is
# dropped into the repository as a new version of a served model and loaded
# with the admin route; each must be refused with 422 and a message naming
# the problem, cheaply (peak RSS, VmHWM, grows by less than 64 MiB), while
# the served version keeps answering:
#   - a 400-byte CNN file of metadata alone (30 batch norms on a 2048 x 2048
#     input; the loader once allocated ~1 GB for it);
#   - a 63 MiB JSON header (once peaked at 1.36 GB);
#   - a FIFO named model.safetensors (the loader once waited on it forever,
#     and every later reload queued behind it).
# Loopback only; about 10 s.
#
#   bash tests/security/sec_model_files.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
sec_init "$1"
ops_model demo
export ENCORE_ADMIN_TOKEN=sec-model-files-admin-0123456789
ops_start --threads 2 --access-log false --drain-seconds 0 --watch false --rescan-seconds 0
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$OPS_PID/status"; }
base=$(ops_rss_kb "$OPS_PID")
reload() {   # VERSION -> STATUS, BODY (at most 10 s)
    local out
    out=$(curl -s -m 10 -w '\n%{http_code}' -X POST -H "Authorization: Bearer $ENCORE_ADMIN_TOKEN" \
        -H 'Content-Type: application/json' -d "{\"version\":$1}" "$OPS_URL/v1/models/demo:reload")
    STATUS=${out##*$'\n'}
    BODY=${out%$'\n'*}
}
hostile() {   # LABEL VERSION NEEDLE
    reload "$2"
    sec_check "$1: status" 422 "$STATUS"
    case "$BODY" in *"$3"*) sec_check "$1: message names the problem" 1 1 ;;
        *) sec_check "$1: message names the problem" "...$3..." "$BODY" ;; esac
    local peak=$(( $(hwm) - base ))
    ops_note "$1: peak RSS growth $peak kB"
    sec_check "$1: peak RSS growth under 64 MiB" 1 "$([ "$peak" -lt 65536 ] && echo 1 || echo "$peak kB")"
    sec_check "$1: version 1 still served" 200 "$(sec_status POST /v1/models/demo:recommend '{"user":"1"}')"
}
mkdir -p "$OPS_REPO/demo/2" "$OPS_REPO/demo/3" "$OPS_REPO/demo/4" "$OPS_REPO/demo/5"
"$PY" "$SEC_DIR/hostile_models.py" cnn_meta_only "$OPS_REPO/demo/2/model.safetensors"
hostile "CNN metadata only" 2 "layers.1.weight' is missing"
"$PY" "$SEC_DIR/hostile_models.py" big_header "$OPS_REPO/demo/3/model.safetensors"
hostile "63 MiB header" 3 "max_model_header_bytes"
mkfifo "$OPS_REPO/demo/4/model.safetensors"
hostile "FIFO" 4 "not a regular file"
cp "$OPS_MODEL_FILE" "$OPS_REPO/demo/5/model.safetensors"
reload 5
sec_check "a good version after them loads" 200 "$STATUS"
sec_stop_within 20
sec_check "exit status" 0 "$OPS_EXIT"
sec_finish
