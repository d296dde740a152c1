#!/usr/bin/python3
"""lstm_torch.py - the PyTorch reference for encore-train text --model lstm.

The same model trained the same way as models/text/lstm.c, on the same folds:
  Embedding(V+2, E, padding_idx=0) -> dropout -> LSTM(E, H) over packed
  sequences (padding never changes a state) -> max/mean/last pooling over the
  real steps -> dropout -> Linear(H, K) -> softmax cross-entropy;
  Adam (lr), global-norm gradient clipping, minibatches of `batch` drawn by
  shuffling, sorting each run of 20 batches by length, shuffling the batches;
  vocabulary = training-fold tokens with count >= min_count, the max_vocab most
  frequent (ties by bytes), ids 0 = padding, 1 = unknown; sequences truncated
  to max_len; PyTorch's default initialisation (the C code copies it), or with
  --forget-bias X the forget-gate bias set to X (b_ih[H:2H] = X, b_hh[H:2H] = 0,
  as encore-train's --forget-bias X), after all random draws.
The tokeniser below re-implements models/text/tokenize.c byte for byte (see
tokenize.h for the rules), so both see the same token ids.

Usage: /usr/bin/python3 bench/lstm_torch.py --pos F --neg F --folds F
           [--max-folds N --epochs 6 --lr 0.002 --threads 1 ...]
Prints one JSON object like `encore-train text --folds`.
"""
import argparse
import json
import math
import os
import random
import sys
import time
from collections import Counter

SEP, WORD, PUNCT = 0, 1, 2
TOK_MAX_LEN = 64


def _utf8_len(b, i):
    c, n = b[i], len(b)
    k = 2 if 0xC2 <= c <= 0xDF else 3 if 0xE0 <= c <= 0xEF else 4 if 0xF0 <= c <= 0xF4 else 0
    if not k or i + k > n:
        return 0
    for j in range(1, k):
        if b[i + j] & 0xC0 != 0x80:
            return 0
    return k


def _unit(b, i):
    c = b[i]
    if c < 0x80:
        if 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122:
            return WORD, 1
        return (SEP if c <= 0x20 or c == 0x7F else PUNCT), 1
    k = _utf8_len(b, i)
    if k:
        if k == 2 and c == 0xC2:
            return (SEP if b[i + 1] == 0xA0 else PUNCT), 2
        if k == 3 and c == 0xE2 and (b[i + 1] == 0x80 or (b[i + 1] == 0x81 and b[i + 2] <= 0xAF)):
            return (SEP if b[i + 1] == 0x80 and b[i + 2] <= 0x8A else PUNCT), 3
        return WORD, k
    if c == 0xA0:
        return SEP, 1
    return (PUNCT if c < 0xC0 else WORD), 1


def tokenize(b):
    """Tokens of a bytes line, ASCII lower-cased (models/text/tokenize.c)."""
    out, i, n = [], 0, len(b)
    while i < n:
        cls, ul = _unit(b, i)
        if cls == SEP:
            i += ul
            continue
        ln = ul
        if cls == WORD:
            while i + ln < n:
                c2, l2 = _unit(b, i + ln)
                if c2 != WORD or ln + l2 > TOK_MAX_LEN:
                    break
                ln += l2
        out.append(b[i:i + ln].lower())
        i += ln
    return out


def read_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [l[:-1] if l.endswith(b"\r") else l for l in lines]


def read_corpus(pos, neg):
    """Examples (bytes), labels (1 pos / 0 neg) and (basename, line) keys."""
    texts, labels, keys = [], [], []
    for path, lab in ((pos, 1), (neg, 0)):
        for i, l in enumerate(read_lines(path)):
            texts.append(l)
            labels.append(lab)
            keys.append((os.path.basename(path), i + 1))
    return texts, labels, keys


def read_folds(path, keys):
    where = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3:
                where[(parts[0], int(parts[1]))] = int(parts[2])
    return [where[k] for k in keys]


def build_vocab(token_lists, min_count, max_vocab):
    cnt = Counter()
    for t in token_lists:
        cnt.update(t)
    items = [(w, c) for w, c in cnt.items() if c >= min_count]
    items.sort(key=lambda wc: (-wc[1], wc[0]))
    if max_vocab:
        items = items[:max_vocab]
    return {w: i + 2 for i, (w, _) in enumerate(items)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pos", required=True)
    ap.add_argument("--neg", required=True)
    ap.add_argument("--folds", required=True)
    ap.add_argument("--max-folds", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--embedding-dim", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--min-count", type=int, default=1)
    ap.add_argument("--max-vocab", type=int, default=30000)
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--pool", choices=["last", "mean", "max"], default="max")
    ap.add_argument("--forget-bias", default="random",
                    help="initial forget-gate bias, a number or 'random' (PyTorch's init)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()

    import torch
    import torch.nn as nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.set_num_threads(a.threads)
    texts, labels, keys = read_corpus(a.pos, a.neg)
    fold = read_folds(a.folds, keys)
    toks = [tokenize(t) for t in texts]
    k = max(fold) + 1
    run = a.max_folds if 0 < a.max_folds < k else k

    class Net(nn.Module):
        def __init__(self, V, E, H, K):
            super().__init__()
            self.emb = nn.Embedding(V, E, padding_idx=0)
            self.lstm = nn.LSTM(E, H, batch_first=True)
            self.drop = nn.Dropout(a.dropout)
            self.out = nn.Linear(H, K)
            if a.forget_bias != "random":
                with torch.no_grad():   # gate order i, f, g, o
                    self.lstm.bias_ih_l0[H:2 * H].fill_(float(a.forget_bias))
                    self.lstm.bias_hh_l0[H:2 * H].zero_()

        def forward(self, ids, lens):
            x = self.drop(self.emb(ids))
            packed = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
            out, (h, _) = self.lstm(packed)
            if a.pool == "last":
                p = h[-1]
            else:
                out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
                mask = torch.arange(ids.shape[1])[None, :] < lens[:, None]
                if a.pool == "mean":
                    p = (out * mask[..., None]).sum(1) / lens[:, None].float()
                else:
                    p = out.masked_fill(~mask[..., None], float("-inf")).max(1).values
            return self.out(self.drop(p))

    def encode(vocab, t):
        ids = [vocab.get(w, 1) for w in t[:a.max_len]]
        return ids if ids else [1]

    def tensors(seqs):
        T = max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), T, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s)
        return ids, torch.tensor([len(s) for s in seqs])

    accs, secs, pred_ms = [], [], []
    t_all = time.time()
    for f in range(run):
        tr = [i for i in range(len(texts)) if fold[i] != f]
        te = [i for i in range(len(texts)) if fold[i] == f]
        t0 = time.time()
        torch.manual_seed(a.seed)
        rng = random.Random(a.seed)
        vocab = build_vocab([toks[i] for i in tr], a.min_count, a.max_vocab)
        K = 2
        net = Net(len(vocab) + 2, a.embedding_dim, a.hidden, K)
        opt = torch.optim.Adam(net.parameters(), lr=a.lr)
        lossf = nn.CrossEntropyLoss()
        enc = {i: encode(vocab, toks[i]) for i in tr}
        B = a.batch
        for ep in range(a.epochs):
            te0 = time.time()
            net.train()
            order = tr[:]
            rng.shuffle(order)
            chunk = B * 20
            for c0 in range(0, len(order), chunk):
                order[c0:c0 + chunk] = sorted(order[c0:c0 + chunk], key=lambda i: len(enc[i]))
            starts = list(range(0, len(order), B))
            rng.shuffle(starts)
            tot, right = 0.0, 0
            for s in starts:
                bi = order[s:s + B]
                ids, lens = tensors([enc[i] for i in bi])
                y = torch.tensor([labels[i] for i in bi])
                opt.zero_grad()
                logits = net(ids, lens)
                loss = lossf(logits, y)
                loss.backward()
                if a.clip > 0:
                    nn.utils.clip_grad_norm_(net.parameters(), a.clip)
                opt.step()
                tot += loss.item() * len(bi)
                right += (logits.argmax(1) == y).sum().item()
            if not a.quiet:
                print(f"lstm_torch: fold {f + 1} epoch {ep + 1}/{a.epochs}: loss {tot / len(tr):.4f}, "
                      f"train accuracy {right / len(tr):.4f}, {time.time() - te0:.1f} s",
                      file=sys.stderr)
        secs.append(time.time() - t0)
        # one sentence at a time, tokenising included, as the server would
        net.eval()
        right = 0
        tp = time.time()
        with torch.no_grad():
            for i in te:
                ids, lens = tensors([encode(vocab, tokenize(texts[i]))])
                right += int(net(ids, lens).argmax(1).item() == labels[i])
        pred_ms.append(1000.0 * (time.time() - tp) / len(te))
        accs.append(right / len(te))
        if not a.quiet:
            print(f"lstm_torch: fold {f + 1}/{k}: accuracy {accs[-1]:.4f} ({secs[-1]:.1f} s)",
                  file=sys.stderr)
    mean = sum(accs) / len(accs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in accs) / (len(accs) - 1)) if len(accs) > 1 else 0.0
    print(json.dumps({"model": "lstm_torch", "torch": torch.__version__, "accuracy": mean,
                      "folds": accs, "sd": sd, "n_folds": k, "folds_run": run,
                      "seconds": time.time() - t_all,
                      "train_seconds_per_fold": sum(secs) / len(secs),
                      "predict_ms_per_example": sum(pred_ms) / len(pred_ms),
                      "hyperparameters": vars(a)}))


if __name__ == "__main__":
    main()
