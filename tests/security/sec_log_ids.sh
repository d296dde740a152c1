#!/usr/bin/env bash
# sec_log_ids.sh - user ids in the access log cannot be reversed (issue #20).
#
# Before: the user hash was FNV-1a with a per-process salt whose low 32 bits
# were in every request id (and X-Request-Id); one log line gave back user
# "987654321" after 10^9 guesses in 12 s. Here:
#   - the hash is HMAC-SHA-256 under log_hash_key_file's key (the known
#     answer for key 00..0f and user 987654321 is h:8504c85255179e01);
#   - two servers sharing the key file log the same hash for a user, a
#     server with another key (or none: a random one) a different one;
#   - request ids of two servers with the same key file differ in their
#     random prefix (nothing in them comes from the key).
# Loopback only; about 5 s.
#
#   bash tests/security/sec_log_ids.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
sec_init "$1"
ops_model demo
printf '000102030405060708090a0b0c0d0e0f\n' >"$OPS_TMP/key1"
printf '%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$OPS_TMP/key2"
chmod 600 "$OPS_TMP/key1" "$OPS_TMP/key2"
# one_run [options]: a recommend for user 987654321; prints "<user hash> <request id>"
one_run() {
    ops_start --threads 2 --drain-seconds 0 "$@"
    local rid
    rid=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
        -d '{"user":"987654321","k":3}' "$OPS_URL/v1/models/demo:recommend" |
        tr -d '\r' | awk -F': ' 'tolower($1) == "x-request-id" { print $2 }')
    sec_stop_within 20
    local hash
    hash=$(grep '"type":"access"' "$OPS_TMP/server.log" | grep -o '"user":"[^"]*"' | head -1 | cut -d'"' -f4)
    echo "$hash $rid"
}
read -r h1 r1 <<<"$(one_run --log-hash-key-file "$OPS_TMP/key1")"
read -r h2 r2 <<<"$(one_run --log-hash-key-file "$OPS_TMP/key1")"
read -r h3 _ <<<"$(one_run --log-hash-key-file "$OPS_TMP/key2")"
read -r h4 _ <<<"$(one_run)"
ops_note "key1: $h1 / $h2, key2: $h3, random key: $h4; request ids $r1, $r2"
sec_check "HMAC-SHA-256 known answer (key 00..0f)" "h:8504c85255179e01" "$h1"
sec_check "same key file, same hash" "$h1" "$h2"
sec_check "another key, another hash" 1 "$([ -n "$h3" ] && [ "$h3" != "$h1" ] && echo 1)"
sec_check "no key file (random key), another hash" 1 "$([ -n "$h4" ] && [ "$h4" != "$h1" ] && echo 1)"
sec_check "request ids: random prefixes differ under the same key" 1 \
    "$([ -n "$r1" ] && [ "${r1%%-*}" != "${r2%%-*}" ] && echo 1)"
printf 'not-hex\n' >"$OPS_TMP/bad"
"$OPS_SERVER" --models "$OPS_REPO" --port "$(ops_free_port)" --host 127.0.0.1 \
    --log-hash-key-file "$OPS_TMP/bad" 2>"$OPS_TMP/bad.log"
sec_check "a bad key file stops the server at startup (exit 2)" 2 $?
sec_check "and names the file" 1 "$(grep -m1 -c "log_hash_key_file $OPS_TMP/bad" "$OPS_TMP/bad.log")"
sec_finish
