#!/usr/bin/env python3
"""Find where an IDX dataset's images and labels fall out of step (an image missing in the
middle of the file shifts every later label by one).

    cargo run --release -- train spaces/reference-arch.json --data DIR --epochs 2 --out runs/probe
    cargo run --release -- export --checkpoint runs/probe --out /tmp/probe.onnx
    python3 benches/label_alignment.py /tmp/probe.onnx DIR --mean M --std S

(M and S: the normalization `edgenas export` prints.) Runs the model on every training image
with onnxruntime and finds the split point k maximising agreement of the prediction with label
i before k and label i+1 from k on; prints k, both agreements and windows of 2,000 images.
"""
import argparse
import gzip
import pathlib

import numpy as np
import onnxruntime as ort


def read(p):
    data = p.read_bytes()
    return gzip.decompress(data) if p.suffix == ".gz" else data


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("data", type=pathlib.Path)
    ap.add_argument("--mean", type=float, required=True)
    ap.add_argument("--std", type=float, required=True)
    a = ap.parse_args()
    ib = read(next(a.data.glob("train-images-idx3-ubyte*")))
    lb = read(next(a.data.glob("train-labels-idx1-ubyte*")))
    r, c = int.from_bytes(ib[8:12], "big"), int.from_bytes(ib[12:16], "big")
    px = np.frombuffer(ib[16:], dtype=np.uint8)
    n = len(px) // (r * c)
    x = ((px[: n * r * c].reshape(n, 1, r, c).astype(np.float32) / 255.0) - a.mean) / a.std
    labels = np.frombuffer(lb[8:], dtype=np.uint8)
    s = ort.InferenceSession(a.model)
    name = s.get_inputs()[0].name
    # exported models have a static batch of 1
    pred = np.array([s.run(None, {name: x[i : i + 1]})[0].argmax() for i in range(n)])
    same = (pred == labels[:n]).astype(int)
    nxt = np.zeros(n, dtype=int)
    m = min(n, len(labels) - 1)
    nxt[:m] = pred[:m] == labels[1 : m + 1]
    cs = np.concatenate([[0], np.cumsum(same)])
    cn = np.concatenate([[0], np.cumsum(nxt)])
    score = cs + (cn[-1] - cn)
    k = int(score.argmax())
    print(f"{n} images, {len(labels)} labels")
    print(f"agreement with label i everywhere: {cs[-1] / n:.4f}")
    print(f"best split k = {k}: label i before, label i+1 from k on: {score[k] / n:.4f}")
    for w in range(0, n, 2000):
        q = slice(w, min(n, w + 2000))
        print(f"  images {w:>6}..: same {same[q].mean():.3f}  next {nxt[q].mean():.3f}")


if __name__ == "__main__":
    main()
