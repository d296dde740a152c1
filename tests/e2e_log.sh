#!/usr/bin/env bash
# e2e_log.sh - the access log under concurrency: stderr is a pipe (as under a
# container's log collector), two HTTP threads answer 3,000 requests from 8
# parallel connections, and after SIGTERM every line must be one whole JSON
# object and every request must have exactly one access line.
#   Usage: bash tests/e2e_log.sh BUILD_DIR
. "$(dirname "$0")/lib/e2e.sh"
e2e_init "$1"

"$BUILD/encore-train" demo-data --dir "$T/data" 2>"$T/demo.log" || { cat "$T/demo.log"; exit 1; }
"$BUILD/encore-train" als --interactions "$T/data/interactions.tsv" --out "$T/repo/demo" \
  --factors 8 --iterations 2 2>"$T/train.log" || { cat "$T/train.log"; exit 1; }

# stderr through a pipe: `cat` is the log collector. A random port can be taken
# (other suites run beside this one): retry, as e2e_start_server does.
up=0
for try in 1 2 3 4 5; do
  PORT=$(( 20000 + (RANDOM * 7 + $$) % 40000 ))
  "$BUILD/encore-server" --models "$T/repo" --host 127.0.0.1 --port "$PORT" --threads 2 \
    --drain-seconds 0 2> >(cat > "$T/pipe.log") &
  SRV_PID=$!
  for i in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && { up=1; break; }
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ $up = 1 ] && break
  kill -KILL "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null
done
[ $up = 1 ] || { echo "FAIL: could not start encore-server:" >&2; cat "$T/pipe.log" >&2; exit 1; }
USERS=$(cut -f1 "$T/data/interactions.tsv" | sort -u | head -25)
N=3000   # 8 clients x 375 requests, each client one keep-alive connection
for c in $(seq 8); do
  : > "$T/curl$c.cfg"
  for r in $(seq 15); do
    for u in $USERS; do
      printf 'url = "http://127.0.0.1:%s/v1/models/demo:recommend"\n' "$PORT"
      printf 'data = "{\\"user\\":\\"%s\\",\\"k\\":5}"\n' "$u"
      printf 'header = "Content-Type: application/json"\noutput = /dev/null\nwrite-out = "%%{http_code}\\n"\nnext\n'
    done
  done >> "$T/curl$c.cfg"
  curl -sS -K "$T/curl$c.cfg" > "$T/codes$c.txt" 2>"$T/curl$c.err" &
done
wait $(jobs -p | grep -v "^$SRV_PID$") 2>/dev/null
cat "$T"/codes*.txt > "$T/codes.txt"
check "all answered 200" "$N" "$(grep -c '^200$' "$T/codes.txt")"
kill -TERM "$SRV_PID"; wait "$SRV_PID"; SRV_PID=
sleep 0.5   # let cat drain the pipe
e2e_sanitizer_check "$T/pipe.log" || exit 1
check "every line is one JSON object" 0 "$("$PY" -c '
import json, sys
bad = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        json.loads(line)
    except ValueError:
        bad += 1
print(bad)' "$T/pipe.log")"
check "one access line per request" "$N" "$(grep -c '"path":"/v1/models/demo:recommend"' "$T/pipe.log")"
e2e_finish
