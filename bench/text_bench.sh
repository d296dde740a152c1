#!/bin/sh
# text_bench.sh - rt-polarity (MR) 10-fold accuracy and timings of the text
# family against its Python references, all in one run on the same folds:
#   NBSVM-bi in C (vocabulary and hashed features) vs scikit-learn NBSVM-bi
#   (bench/nbsvm_sklearn_ref.py), and the LSTM in C vs the same LSTM in
#   PyTorch (bench/lstm_torch.py), same size, same training recipe.
#
# usage: bench/text_bench.sh [ENCORE_TRAIN] [LSTM_FOLDS]
#   ENCORE_TRAIN  the encore-train binary (default build/encore-train)
#   LSTM_FOLDS    how many of the 10 folds the two LSTMs run (default 10; the
#                 shared 2-core machine could afford 5, the same for both)
# Environment: OUT (raw outputs, default /tmp/encore-text-bench), SHARED
# (default ../shared beside the repo), LSTM_EPOCHS (6), LSTM_LR (0.002).
# Python references run under /usr/bin/python3 (Debian's sklearn and torch).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
TRAIN=${1:-$HERE/../build/encore-train}
LSTM_FOLDS=${2:-10}
SHARED=${SHARED:-$HERE/../../shared}
D=$SHARED/datasets/rt-polarity
OUT=${OUT:-/tmp/encore-text-bench}
EPOCHS=${LSTM_EPOCHS:-6}
LR=${LSTM_LR:-0.002}
PY=/usr/bin/python3
mkdir -p "$OUT"
DATA="--pos $D/rt-polarity.pos --neg $D/rt-polarity.neg --folds $D/folds.tsv"

run() {   # run NAME CMD...: JSON to $OUT/NAME.json, progress to $OUT/NAME.log
    name=$1
    shift
    echo "== $name: $*" >&2
    "$@" > "$OUT/$name.json" 2> "$OUT/$name.log"
    cat "$OUT/$name.json"
}

echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
run nbsvm_c        "$TRAIN" text --model nbsvm $DATA
run nbsvm_sklearn  $PY "$HERE/nbsvm_sklearn_ref.py" $DATA
run nbsvm_sklearn_enc $PY "$HERE/nbsvm_sklearn_ref.py" $DATA --tokenizer encore
run nbsvm_c_beta1  "$TRAIN" text --model nbsvm $DATA --beta 1 --quiet
for bits in 18 20 22; do
    run nbsvm_c_hash$bits "$TRAIN" text --model nbsvm $DATA --hash-bits $bits --quiet
done
LSTM="--epochs $EPOCHS --lr $LR --batch 32 --embedding-dim 100 --hidden 128 --max-len 64 \
      --dropout 0.5 --clip 5 --pool max --seed 1 --threads 1 --max-folds $LSTM_FOLDS"
run lstm_c     "$TRAIN" text --model lstm $DATA $LSTM
run lstm_torch $PY "$HERE/lstm_torch.py" $DATA $LSTM
echo "# done $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# One summary table (Markdown) from the JSON files.
$PY - "$OUT" <<'EOF'
import json, sys, os
out = sys.argv[1]
rows = ["nbsvm_c", "nbsvm_sklearn", "nbsvm_sklearn_enc", "nbsvm_c_beta1", "nbsvm_c_hash18",
        "nbsvm_c_hash20", "nbsvm_c_hash22", "lstm_c", "lstm_torch"]
print("| run | folds | accuracy (mean) | sd | train s/fold | predict ms/sentence |")
print("|---|---|---|---|---|---|")
for r in rows:
    p = os.path.join(out, r + ".json")
    if not os.path.exists(p):
        continue
    j = json.load(open(p))
    print(f"| {r} | {len(j['folds'])} | {100 * j['accuracy']:.2f}% | {100 * j['sd']:.2f} | "
          f"{j['train_seconds_per_fold']:.2f} | {j['predict_ms_per_example']:.4f} |")
EOF
