#!/bin/bash
# cnn_bench.sh - encore-train cnn against PyTorch, side by side in one run.
#
#   bench/cnn_bench.sh ENCORE_TRAIN [default|deep|deep2|deep2bn] [EPOCHS] [THREADS]
#
# ENCORE_TRAIN is the encore-train binary (e.g. build/encore-train). Data:
# Fashion-MNIST's fixed 60k/10k split from $DATA (default
# /usr/share/datasets/fashion-mnist, `apt-get install dataset-fashion-mnist`).
# "default" is conv32k3,relu,flatten,dense10 (5 epochs); "deep" is
# conv32k3,relu,pool2,conv64k3,relu,pool2,dense128,relu,dense10 (8 epochs).
# Both sides: Adam lr 0.001, batch 128 (deep2: $DEEP2_BATCH), THREADS threads (default 2).
# "deep2" is the recipe chosen on a validation split for the deeper net
# (bench/results/cnn.md, "Deeper architecture: a recipe chosen on validation"):
# $DEEP2_ARCH with $DEEP2_AUG augmentation, 8 epochs; PyTorch trains the same
# network the same way (standardized input, cosine lr decay, the same
# augmentation and dropout), where default/deep use PyTorch's usual recipe.
# "deep2bn" is deep2 with batch normalisation after each convolution and after
# the 256-unit dense layer, and without the two dropout0.25 of the conv blocks
# ($DEEP2BN_ARCH, batch $DEEP2BN_BATCH, lr $DEEP2BN_LR, chosen on the
# validation split: bench/results/cnn.md, "Batch normalisation");
# PyTorch gets BatchNorm2d / BatchNorm1d in the same places, same recipe.
#
# Runs, one after the other: encore-train cnn (per-epoch training seconds
# from its progress lines), encore-train eval --bench on the test set
# (accuracy, single-image latency, batch-1000 throughput), then
# bench/cnn_torch.py with the same settings; prints a markdown table with
# the ratios. Logs go to $LOGDIR (default a new /tmp/cnn_bench.* directory).
set -euo pipefail
BIN=${1:?usage: cnn_bench.sh ENCORE_TRAIN [default|deep] [EPOCHS] [THREADS]}
KIND=${2:-default}
THREADS=${4:-2}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
HERE=$(cd "$(dirname "$0")" && pwd)
DEEP2_ARCH=conv32k3same,relu,pool2,dropout0.25,conv64k3same,relu,pool2,dropout0.25,dense256,relu,dropout0.5,dense10
DEEP2_AUG=none
DEEP2_BATCH=16
DEEP2BN_ARCH=conv32k3same,bn,relu,pool2,conv64k3same,bn,relu,pool2,dense256,bn,relu,dropout0.5,dense10
DEEP2BN_BATCH=32
DEEP2BN_LR=0.002
BATCH=128
LR=0.001
C_EXTRA=()
T_EXTRA=(--arch "$KIND")
case $KIND in
  default) ARCH=conv32k3,relu,flatten,dense10; EPOCHS=${3:-5} ;;
  deep) ARCH=conv32k3,relu,pool2,conv64k3,relu,pool2,dense128,relu,dense10; EPOCHS=${3:-8} ;;
  deep2) ARCH=$DEEP2_ARCH; EPOCHS=${3:-8}; BATCH=$DEEP2_BATCH; C_EXTRA=(--augment "$DEEP2_AUG")
         T_EXTRA=(--standardize --cosine --augment "$DEEP2_AUG") ;;
  deep2bn) ARCH=$DEEP2BN_ARCH; EPOCHS=${3:-8}; BATCH=$DEEP2BN_BATCH; LR=$DEEP2BN_LR
           C_EXTRA=(--augment none); T_EXTRA=(--standardize --cosine --augment none) ;;
  *) echo "cnn_bench.sh: KIND must be default, deep, deep2 or deep2bn" >&2; exit 2 ;;
esac
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz \
         t10k-labels-idx1-ubyte.gz; do
  [ -r "$DATA/$f" ] || { echo "cnn_bench.sh: $DATA/$f missing (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
done
LOGDIR=${LOGDIR:-$(mktemp -d /tmp/cnn_bench.XXXXXX)}
mkdir -p "$LOGDIR"
REPO=$LOGDIR/repo
echo "# logs in $LOGDIR; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

"$BIN" cnn --train-images "$DATA/train-images-idx3-ubyte.gz" \
  --train-labels "$DATA/train-labels-idx1-ubyte.gz" \
  --test-images "$DATA/t10k-images-idx3-ubyte.gz" --test-labels "$DATA/t10k-labels-idx1-ubyte.gz" \
  --out "$REPO/fashion" --arch "$ARCH" --epochs "$EPOCHS" --batch "$BATCH" --lr "$LR" \
  --threads "$THREADS" --seed 42 "${C_EXTRA[@]}" >"$LOGDIR/encore.json" 2>"$LOGDIR/encore.err"
cat "$LOGDIR/encore.err" >&2
"$BIN" eval --model "$REPO/fashion" --images "$DATA/t10k-images-idx3-ubyte.gz" \
  --labels "$DATA/t10k-labels-idx1-ubyte.gz" --threads "$THREADS" --bench >"$LOGDIR/eval.json"
echo "# load between: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
if [ "$KIND" = deep2 ] || [ "$KIND" = deep2bn ]; then T_EXTRA=(--arch "$ARCH" "${T_EXTRA[@]}"); fi
/usr/bin/python3 "$HERE/cnn_torch.py" "$DATA" "${T_EXTRA[@]}" --epochs "$EPOCHS" --batch "$BATCH" \
  --lr "$LR" --threads "$THREADS" --seed 42 >"$LOGDIR/torch.json" 2>"$LOGDIR/torch.err"
cat "$LOGDIR/torch.err" >&2
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

/usr/bin/python3 - "$LOGDIR" "$ARCH" "$EPOCHS" "$THREADS" "$BATCH" "$LR" <<'EOF'
import json, re, sys
d, arch, epochs, threads, batch, lr = sys.argv[1:]
err = open(d + "/encore.err").read()
secs = [float(s) for s in re.findall(r"train_seconds ([0-9.]+)", err)]
cpu = [float(s) for s in re.findall(r"train_cpu_seconds ([0-9.]+)", err)]
acc = [float(s) for s in re.findall(r"test_acc ([0-9.]+)", err)]
ev = json.load(open(d + "/eval.json"))
t = json.loads(open(d + "/torch.json").read().strip().splitlines()[-1])
e_ep = sum(secs) / len(secs)
extra = ""
if t.get("augment", "none") != "none" or t.get("standardize"):
    extra = (f", both sides standardized input + cosine lr decay, augment {t['augment']}")
print(f"arch `{arch}`, {epochs} epochs, batch {batch}, Adam lr {lr}, {threads} threads{extra}\n")
print("| | encore-train (C) | PyTorch %s | ratio C/PyTorch |" % t["impl"].split()[-1])
print("|---|---|---|---|")
print(f"| test accuracy | {ev['accuracy']:.4f} | {t['test_accuracy']:.4f} | |")
print(f"| training seconds per epoch (mean) | {e_ep:.2f} | {t['seconds_per_epoch']:.2f} | "
      f"{e_ep / t['seconds_per_epoch']:.2f}x |")
e_cpu = sum(cpu) / len(cpu)
print(f"| training CPU seconds per epoch (all threads) | {e_cpu:.2f} | "
      f"{t['cpu_seconds_per_epoch']:.2f} | {e_cpu / t['cpu_seconds_per_epoch']:.2f}x |")
print("| per-epoch seconds | %s | %s | |" % (" ".join("%.1f" % s for s in secs),
                                           " ".join("%.1f" % s for s in t["epoch_seconds"])))
print(f"| single-image latency, median ms | {ev['latency_ms_median']:.3f} | "
      f"{t['latency_ms_median']:.3f} | {ev['latency_ms_median'] / t['latency_ms_median']:.2f}x |")
print(f"| single-image latency, mean ms | {ev['latency_ms_mean']:.3f} | "
      f"{t['latency_ms_mean']:.3f} | {ev['latency_ms_mean'] / t['latency_ms_mean']:.2f}x |")
print(f"| batch-1000 throughput, images/s | {ev['batch_images_per_second']:.0f} | "
      f"{t['batch_images_per_second']:.0f} | "
      f"{ev['batch_images_per_second'] / t['batch_images_per_second']:.2f}x |")
print("\nheld-out accuracy per epoch (C): " + " ".join("%.4f" % a for a in acc))
EOF
