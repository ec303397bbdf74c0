#!/usr/bin/env python3
"""Write a consistent copy of an MNIST-style IDX dataset whose image file is cut short.

edgenas refuses an IDX file whose header disagrees with its size (the issue asks for a clear
error, not a guess). `../shared/data/fashion-mnist/train-images-idx3-ubyte.gz` is such a file:
its header says 59,948 images, the data holds 59,947 whole ones (784 bytes missing), and the
labels file holds 59,948 labels. Which image is missing cannot be read off the files: by
default the last label is dropped; `--drop-label N` drops label N instead. For Fashion-MNIST
the missing image is number 55,130 (`benches/label_alignment.py`: a model trained on the
file agrees with label i for images before 55,130 and with label i+1 from there on), so:

    python3 benches/repair_idx.py ../shared/data/fashion-mnist /tmp/fashion-mnist --drop-label 55130

The test files are copied unchanged when consistent. It refuses to drop more than --max-drop
records (default 1), so it cannot hide a badly damaged file.
"""
import argparse
import gzip
import pathlib
import shutil
import struct
import sys


def read(p):
    data = p.read_bytes()
    return gzip.decompress(data) if p.suffix == ".gz" else data


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=pathlib.Path)
    ap.add_argument("dst", type=pathlib.Path)
    ap.add_argument("--max-drop", type=int, default=1)
    ap.add_argument("--drop-label", type=int, default=None,
                    help="index of the training label whose image is missing (default: the last)")
    a = ap.parse_args()
    a.dst.mkdir(parents=True, exist_ok=True)
    for split in ("train", "t10k", "test"):
        imgs = sorted(a.src.glob(f"{split}-images-idx3-ubyte*"))
        labs = sorted(a.src.glob(f"{split}-labels-idx1-ubyte*"))
        if not imgs or not labs:
            continue
        ib, lb = read(imgs[0]), read(labs[0])
        magic, n, r, c = struct.unpack(">IIII", ib[:16])
        lmagic, ln = struct.unpack(">II", lb[:8])
        if magic != 0x803 or lmagic != 0x801:
            sys.exit(f"{imgs[0]}: not an IDX image/label pair")
        whole = min((len(ib) - 16) // (r * c), len(lb) - 8, n, ln)
        dropped = max(n, ln) - whole
        if dropped > a.max_drop:
            sys.exit(f"{imgs[0]}: {dropped} records incomplete (more than --max-drop {a.max_drop})")
        labels = lb[8:]
        if split == "train" and a.drop_label is not None and dropped == 1 and ln == whole + 1:
            if not 0 <= a.drop_label < ln:
                sys.exit(f"--drop-label {a.drop_label}: allowed 0..{ln - 1}")
            labels = labels[: a.drop_label] + labels[a.drop_label + 1 :]
            print(f"{split}: dropped label {a.drop_label}")
        ib = struct.pack(">IIII", magic, whole, r, c) + ib[16 : 16 + whole * r * c]
        lb = struct.pack(">II", lmagic, whole) + labels[:whole]
        for name, body in ((f"{split}-images-idx3-ubyte.gz", ib), (f"{split}-labels-idx1-ubyte.gz", lb)):
            tmp = a.dst / (name + ".tmp")
            tmp.write_bytes(gzip.compress(body, mtime=0))
            tmp.replace(a.dst / name)
        print(f"{split}: {whole} records kept, {dropped} dropped")
    readme = a.src / "README.md"
    if readme.exists():
        shutil.copy(readme, a.dst / "README.md")


if __name__ == "__main__":
    main()
