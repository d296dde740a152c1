#!/usr/bin/env bash
# sec_tls.sh - HTTPS offers TLS 1.2+ with forward-secret AEAD suites only
# (issue #20, Low). Before, no priority string was set, so GnuTLS's NORMAL
# accepted TLS 1.1 and static-RSA AES-128-CBC. Here, with the default
# tls_priorities, gnutls-cli:
#   - TLS 1.1: refused;  TLS 1.2 static RSA + AES-128-CBC: refused;
#   - TLS 1.2 ECDHE-RSA + AES-128-GCM: completes;  TLS 1.3: completes;
# and a bad tls_priorities stops the server at startup (exit 2) naming it.
# Needs certtool and gnutls-cli (gnutls-bin, in deps.sh's test list); skips
# without them. Loopback only; about 5 s.
#
#   bash tests/security/sec_tls.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
sec_init "$1"
command -v gnutls-cli >/dev/null && command -v certtool >/dev/null ||
    ops_skip "needs gnutls-cli and certtool (apt-get install gnutls-bin)"
ops_model demo
certtool --generate-privkey --outfile key.pem >/dev/null 2>&1
printf 'cn = localhost\nexpiration_days = 2\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\nsigning_key\nencryption_key\n' >tpl
certtool --generate-self-signed --load-privkey key.pem --template tpl --outfile cert.pem >/dev/null 2>&1 ||
    ops_fail "certtool could not make a certificate"
OPS_SCHEME=https OPS_CACERT=$OPS_TMP/cert.pem ops_start --threads 2 --drain-seconds 0 \
    --tls-cert cert.pem --tls-key key.pem
handshake() {   # PRIORITY -> 1 if the handshake completed
    timeout 10 gnutls-cli --insecure --priority "$1" -p "$OPS_PORT" 127.0.0.1 </dev/null 2>&1 |
        grep -c "Handshake was completed"
}
sec_check "TLS 1.1 refused" 0 "$(handshake 'NORMAL:-VERS-ALL:+VERS-TLS1.1')"
sec_check "TLS 1.2 static RSA + AES-128-CBC refused" 0 \
    "$(handshake 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA:-CIPHER-ALL:+AES-128-CBC')"
sec_check "TLS 1.2 ECDHE-RSA + AES-128-GCM completes" 1 \
    "$(handshake 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-RSA:-CIPHER-ALL:+AES-128-GCM')"
sec_check "TLS 1.3 completes" 1 "$(handshake 'NORMAL:-VERS-ALL:+VERS-TLS1.3')"
sec_stop_within 20
sec_check "exit status" 0 "$OPS_EXIT"
"$OPS_SERVER" --models "$OPS_REPO" --host 127.0.0.1 --port "$(ops_free_port)" --tls-cert cert.pem \
    --tls-key key.pem --tls-priorities 'NORMAL:+NO-SUCH-THING' 2>bad.log
sec_check "a bad tls_priorities: exit 2" 2 $?
sec_check "names tls_priorities" 1 "$(grep -m1 -c 'tls_priorities' bad.log)"
sec_finish
