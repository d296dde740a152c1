#!/usr/bin/env bash
# e2e_objstore.sh - model repositories in object storage, against a real
# S3-compatible server (tests/lib/s3.sh: s3rver, which checks SigV4
# signatures) started here on a free port:
#   signed publish (encore-train --out s3://) and training data read from s3://;
#   the server mirrors s3://models/prod and serves it; no re-download while
#   nothing changes (ETag); a partial upload (no model.safetensors) and a corrupt
#   one are never loaded; a new version is loaded within rescan_seconds;
#   refused credentials and the store going away: it keeps serving, /metrics
#   counts the failures, and it recovers; the repository pin over s3://;
#   a missing bucket: a clear error from the server and the trainer.
set -u
source "$(dirname "$0")/lib/e2e.sh"
source "$(dirname "$0")/lib/s3.sh"
e2e_init "$1"
s3_need
trap 's3_stop; e2e_cleanup' EXIT
s3_start "$T/s3" models || exit 1
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_ENDPOINT_URL=$S3_URL
unset AWS_ENDPOINT_URL_S3 AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_SESSION_TOKEN
TRAIN=$BUILD/encore-train
put() {  # FILE KEY: a signed upload with curl (the data pipeline's part)
  curl -sf -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
    -H "x-amz-content-sha256: $(sha256sum "$1" | cut -d' ' -f1)" --data-binary @"$1" "$S3_URL/models/$2"
}
"$TRAIN" demo-data --dir "$T/data" >/dev/null 2>&1 || exit 1
put "$T/data/interactions.tsv" data/interactions.tsv && put "$T/data/items.csv" data/items.csv
check "training data uploaded" 0 $?
train() {  # SEED: train from s3:// data, publish to s3://
  "$TRAIN" als --interactions s3://models/data/interactions.tsv --items s3://models/data/items.csv \
    --out s3://models/prod/demo --factors 8 --iterations 2 --seed "$1" >"$T/train.out" 2>>"$T/train.log"
}
train 1; check "trainer: s3:// data in, s3:// model out" 0 $?
check_contains "trainer fetched its input" "s3://models/data/interactions.tsv ->" "$(cat "$T/train.log")"
USER_ID=$(awk -F'\t' 'NR==1 {print $1}' "$T/data/interactions.tsv")
served() { req POST /v1/models/demo:recommend "{\"user\":\"$USER_ID\",\"k\":2}"; json 'j["version"]'; }
# Waits end as soon as the state is reached; the bound (60 s) only stops a
# test that would never pass (the suite shares 2 cores with everything else).
wait_served() { local i v; for i in $(seq 1 300); do v=$(served); [ "$v" = "$1" ] && break; sleep 0.2; done; echo "$v"; }
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
wait_metric() {  # NAME MIN: until the metric is >= MIN (at most 60 s)
  local i v; for i in $(seq 1 300); do v=$(metric "$1"); [ "${v:-0}" -ge "$2" ] && break; sleep 0.2; done; echo "${v:-0}"
}

# ---- the server mirrors the bucket
e2e_start_server --models s3://models/prod --cache-dir "$T/cache" --rescan-seconds 1 || exit 1
check "serves version 1 from object storage" 1 "$(served)"
req GET /readyz; check "ready" 200 "$STATUS"
# (not "exactly one download": e2e_start_server restarts a server that is slow
# to bind, and the second one finds version 1 already cached with its ETag)
d0=$(metric encore_objstore_downloads_total)
check "downloads counted" 1 "$([ -n "$d0" ] && [ "$d0" -le 1 ] && echo 1)"
check "cached with its ETag" yes "$([ -s "$T/cache/demo/1/.etag" ] && echo yes)"
cp "$T/cache/demo/1/model.safetensors" "$T/valid.safetensors"
n0=$(metric encore_objstore_syncs_total)
check "polls succeed" 1 "$([ "$(wait_metric encore_objstore_syncs_total $((n0 + 2)))" -ge $((n0 + 2)) ] && echo 1)"
check "nothing changed: no download" "$d0" "$(metric encore_objstore_downloads_total)"

# ---- a partial upload and a corrupt one are never loaded
printf 'part of an upload\n' > "$T/part.txt"; put "$T/part.txt" prod/demo/2/upload.part
head -c 3000 "$T/cache/demo/1/model.safetensors" > "$T/trunc.safetensors"; put "$T/trunc.safetensors" prod/demo/3/model.safetensors
check "corrupt download rejected" 1 "$([ "$(wait_metric encore_objstore_rejected_total 1)" -ge 1 ] && echo 1)"
n0=$(metric encore_objstore_syncs_total); wait_metric encore_objstore_syncs_total $((n0 + 2)) >/dev/null
check "still version 1" 1 "$(served)"
check "partial version 2 not mirrored" no "$([ -e "$T/cache/demo/2" ] && echo yes || echo no)"
check "rejected once, not on every poll" 1 "$(metric encore_objstore_rejected_total)"

# ---- a new version appears
train 2; check "second publish" 0 $?
check_contains "published as version 4" 'prod/demo/4' "$(cat "$T/train.out")$(cat "$T/train.log")"
check "version 4 loaded within rescan_seconds" 4 "$(wait_served 4)"

# ---- refused credentials: keeps serving, counts, recovers
f0=$(metric encore_objstore_sync_failures_total)
s3_rotate
check "failures counted" 1 "$([ "$(wait_metric encore_objstore_sync_failures_total $((f0 + 1)))" -gt "$f0" ] && echo 1)"
check_contains "clear error" "SignatureDoesNotMatch" "$(cat "$T/server.log")"
check "keeps serving version 4" 4 "$(served)"
AWS_SECRET_ACCESS_KEY=S3RVER "$TRAIN" pin --out s3://models/prod/demo --version 1 2>"$T/pin.err"
check "trainer with refused credentials fails" 1 $?
check_contains "trainer names the error" "SignatureDoesNotMatch" "$(cat "$T/pin.err")"
s3_restore
n0=$(metric encore_objstore_syncs_total)
wait_metric encore_objstore_syncs_total $((n0 + 1)) >/dev/null
check "recovered" 0 "$(metric encore_objstore_consecutive_failures)"

# ---- the store goes away and comes back
s3_stop
f0=$(metric encore_objstore_sync_failures_total)
check "store down: failures counted" 1 "$([ "$(wait_metric encore_objstore_sync_failures_total $((f0 + 2)))" -ge $((f0 + 2)) ] && echo 1)"
check "store down: still serving" 4 "$(served)"
req GET /readyz; check "store down: still ready" 200 "$STATUS"
s3_restart || exit 1
train 3; check "publish after the store came back" 0 $?
check "store back: version 5 loaded" 5 "$(wait_served 5)"
check "consecutive failures back to 0" 0 "$(metric encore_objstore_consecutive_failures)"

# ---- the repository pin in object storage
"$TRAIN" pin --out s3://models/prod/demo --version 4 2>>"$T/train.log"; check "pin over s3" 0 $?
check "pinned version served" 4 "$(wait_served 4)"
"$TRAIN" pin --out s3://models/prod/demo --version latest 2>>"$T/train.log"
check "unpinned: highest again" 5 "$(wait_served 5)"
"$TRAIN" prune --out s3://models/prod/demo --keep 2 2>>"$T/train.log"; check "prune over s3" 0 $?
kill -TERM "$SRV_PID"; wait "$SRV_PID" 2>/dev/null

# ---- a missing bucket
SRV_PID=; e2e_start_server --models s3://nosuchbucket/prod --cache-dir "$T/cache2" --rescan-seconds 1 || exit 1
req GET /readyz; check "missing bucket: not ready" 503 "$STATUS"
check_contains "missing bucket: clear error" "bucket 'nosuchbucket' does not exist" "$(cat "$T/server.log")"
"$TRAIN" publish --model "$T/valid.safetensors" --out s3://nosuchbucket/prod/demo 2>"$T/nb.err"
check "trainer: missing bucket fails" 1 $?
check_contains "trainer: clear error" "bucket 'nosuchbucket' does not exist" "$(cat "$T/nb.err")"
e2e_finish
