#!/usr/bin/env bash
# e2e_auth_tls.sh - bearer tokens (inference and admin scopes) and HTTPS.
#
#   bash tests/e2e_auth_tls.sh BUILD_DIR
#
# Auth: inference tokens from a file, the admin token from ENCORE_ADMIN_TOKEN.
# No token -> 401 with WWW-Authenticate: Bearer; a wrong one -> 403; health,
# readiness and metrics stay open; an inference token cannot reload; the
# admin token can do both. Without an admin token :reload is 403 with a
# message saying how to enable it.
# TLS: a self-signed certificate made here (openssl or certtool; skipped, exit
# 77, if neither is installed - a failure under CI=true, where deps.sh installs certtool); curl --cacert gets 200; plain HTTP on
# the TLS port gets no answer; a key that does not match the certificate and
# an unreadable certificate stop the server before it binds (exit 2, message).
set -u
source "$(dirname "$0")/ops_lib.sh"
ops_init "$1"
ops_model demo
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
RECO=/v1/models/demo:recommend
J='Content-Type: application/json'
BODY='{"user":"u1","k":3}'

# ---- auth ---------------------------------------------------------------
T1=infer-token-aaaaaaaaaaaaaaaaaaaa
T2=infer-token-bbbbbbbbbbbbbbbbbbbb
ADMIN=admin-token-cccccccccccccccccccc
printf '# inference tokens\n%s\n\n  %s  \n' "$T1" "$T2" >"$OPS_TMP/tokens"
chmod 600 "$OPS_TMP/tokens"
ENCORE_ADMIN_TOKEN=$ADMIN ops_start --tokens-file "$OPS_TMP/tokens"
n=0
expect() {   # expect CODE DESCRIPTION curl-args...
    local want=$1 what=$2 got
    shift 2
    got=$(code "$@")
    [ "$got" = "$want" ] || ops_fail "$what: got $got, expected $want"
    n=$((n + 1))
}
expect 401 "no token" -H "$J" -d "$BODY" "$OPS_URL$RECO"
www=$(curl -s -D - -o /dev/null -H "$J" -d "$BODY" "$OPS_URL$RECO" | tr -d '\r' | grep -i '^WWW-Authenticate:')
echo "$www" | grep -q 'Bearer' || ops_fail "401 without WWW-Authenticate: Bearer ($www)"
expect 401 "Basic instead of Bearer" -H "$J" -H "Authorization: Basic dXNlcjpwYXNz" -d "$BODY" "$OPS_URL$RECO"
expect 403 "wrong token" -H "$J" -H "Authorization: Bearer nope-nope-nope" -d "$BODY" "$OPS_URL$RECO"
expect 403 "token prefix" -H "$J" -H "Authorization: Bearer ${T1%a}" -d "$BODY" "$OPS_URL$RECO"
expect 403 "token plus a byte" -H "$J" -H "Authorization: Bearer ${T1}a" -d "$BODY" "$OPS_URL$RECO"
expect 200 "first inference token" -H "$J" -H "Authorization: Bearer $T1" -d "$BODY" "$OPS_URL$RECO"
expect 200 "second token (indented in the file)" -H "$J" -H "Authorization: bearer $T2" -d "$BODY" "$OPS_URL$RECO"
expect 200 "admin token on inference" -H "$J" -H "Authorization: Bearer $ADMIN" -d "$BODY" "$OPS_URL$RECO"
expect 401 "model list without a token" "$OPS_URL/v1/models"
expect 200 "model list with a token" -H "Authorization: Bearer $T1" "$OPS_URL/v1/models"
expect 200 "healthz open" "$OPS_URL/healthz"
expect 200 "readyz open" "$OPS_URL/readyz"
expect 200 "metrics open" "$OPS_URL/metrics"
expect 401 "reload without a token" -X POST "$OPS_URL/v1/models/demo:reload"
expect 403 "reload with an inference token" -X POST -H "Authorization: Bearer $T1" "$OPS_URL/v1/models/demo:reload"
expect 200 "reload with the admin token" -X POST -H "Authorization: Bearer $ADMIN" "$OPS_URL/v1/models/demo:reload"
v=$(ops_publish demo "$OPS_MODEL_FILE")
out=$(curl -s -X POST -H "Authorization: Bearer $ADMIN" -H "$J" -d "{\"version\":$v}" "$OPS_URL/v1/models/demo:reload")
echo "$out" | grep -q "\"version\":$v" || ops_fail "admin reload of version $v: $out"
expect 404 "reload of an unknown model" -X POST -H "Authorization: Bearer $ADMIN" "$OPS_URL/v1/models/nosuch:reload"
expect 400 "reload with a bad body" -X POST -H "Authorization: Bearer $ADMIN" -H "$J" -d '{"version":"x"}' "$OPS_URL/v1/models/demo:reload"
head -c 2000 "$OPS_MODEL_FILE" >"$OPS_TMP/bad.safetensors"
bad=$(ops_publish demo "$OPS_TMP/bad.safetensors")
expect 422 "reload of a corrupt version" -X POST -H "Authorization: Bearer $ADMIN" -H "$J" -d "{\"version\":$bad}" "$OPS_URL/v1/models/demo:reload"
expect 200 "still serving after the refusal" -H "$J" -H "Authorization: Bearer $T1" -d "$BODY" "$OPS_URL$RECO"
ops_stop
[ "$OPS_EXIT" = 0 ] || ops_fail "server exit status $OPS_EXIT"
rm -rf "$OPS_REPO/demo/$bad"

# Admin API disabled without an admin token; env tokens work.
ENCORE_TOKENS="$T1,$T2" ops_start
msg=$(curl -s -X POST -H "Authorization: Bearer $T1" "$OPS_URL/v1/models/demo:reload")
expect 403 "reload with no admin token configured" -X POST -H "Authorization: Bearer $T1" "$OPS_URL/v1/models/demo:reload"
echo "$msg" | grep -q "admin API is disabled" || ops_fail "no clear message when the admin API is off: $msg"
expect 200 "ENCORE_TOKENS token" -H "$J" -H "Authorization: Bearer $T2" -d "$BODY" "$OPS_URL$RECO"
expect 401 "ENCORE_TOKENS: no token" -H "$J" -d "$BODY" "$OPS_URL$RECO"
ops_stop
# A bad tokens file stops the server before it binds.
printf 'has a space\n' >"$OPS_TMP/badtokens"
"$OPS_SERVER" --models "$OPS_REPO" --port "$(ops_free_port)" --tokens-file "$OPS_TMP/badtokens" 2>"$OPS_TMP/err.txt"
st=$?
[ "$st" = 2 ] && grep -q "badtokens:1" "$OPS_TMP/err.txt" || ops_fail "bad tokens file: exit $st, $(cat "$OPS_TMP/err.txt")"
echo "RESULT auth checks=$n"

# ---- TLS ----------------------------------------------------------------
C=$OPS_TMP/cert.pem K=$OPS_TMP/key.pem
if command -v openssl >/dev/null; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$K" -out "$C" -days 2 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1 || ops_fail "openssl req failed"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$OPS_TMP/other.pem" -out /dev/null -days 2 \
        -subj /CN=other >/dev/null 2>&1
    tool=openssl
elif command -v certtool >/dev/null; then
    certtool --generate-privkey --outfile "$K" >/dev/null 2>&1
    printf 'cn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\nexpiration_days = 2\ntls_www_server\n' >"$OPS_TMP/tpl"
    certtool --generate-self-signed --load-privkey "$K" --template "$OPS_TMP/tpl" --outfile "$C" >/dev/null 2>&1
    certtool --generate-privkey --outfile "$OPS_TMP/other.pem" >/dev/null 2>&1
    tool=certtool
else
    echo "# auth checks passed; the TLS half cannot run"
    e2e_need gnutls-bin command -v certtool   # exits: 77, or 1 under CI=true
fi
OPS_SCHEME=https OPS_CACERT=$C ops_start --tls-cert "$C" --tls-key "$K"
H=https://localhost:$OPS_PORT
got=$(curl -s --cacert "$C" -H "$J" -d "$BODY" "$H$RECO")
echo "$got" | grep -q '"items"' || ops_fail "HTTPS recommend: $got"
expect 200 "HTTPS healthz" --cacert "$C" "$H/healthz"
expect 000 "HTTPS without trusting the certificate" "$H/healthz"
expect 000 "plain HTTP on the TLS port" --max-time 3 "http://127.0.0.1:$OPS_PORT/healthz"
proto=$(curl -s -o /dev/null --cacert "$C" -w '%{scheme}' "$H/healthz")
ops_stop
[ "$OPS_EXIT" = 0 ] || ops_fail "TLS server exit status $OPS_EXIT"
"$OPS_SERVER" --models "$OPS_REPO" --port "$(ops_free_port)" --tls-cert "$C" --tls-key "$OPS_TMP/other.pem" 2>"$OPS_TMP/err.txt"
st=$?
[ "$st" = 2 ] && grep -q "does not belong" "$OPS_TMP/err.txt" || ops_fail "mismatched key: exit $st, $(cat "$OPS_TMP/err.txt")"
"$OPS_SERVER" --models "$OPS_REPO" --port "$(ops_free_port)" --tls-cert "$OPS_TMP/missing.pem" --tls-key "$K" 2>"$OPS_TMP/err.txt"
st=$?
[ "$st" = 2 ] && grep -q "missing.pem: No such file" "$OPS_TMP/err.txt" || ops_fail "missing cert: exit $st, $(cat "$OPS_TMP/err.txt")"
"$OPS_SERVER" --models "$OPS_REPO" --port "$(ops_free_port)" --tls-cert "$C" 2>"$OPS_TMP/err.txt"
st=$?
[ "$st" = 2 ] && grep -q "together" "$OPS_TMP/err.txt" || ops_fail "cert without key: exit $st, $(cat "$OPS_TMP/err.txt")"
echo "RESULT tls tool=$tool scheme=$proto checks=ok"
echo "PASS e2e_auth_tls"
