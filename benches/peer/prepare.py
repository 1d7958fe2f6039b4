"""Peer of benches/prepare.rs: decode + resize to 224 (area) + per-image normalisation of every image of
cxr-real, with Pillow and NumPy, in as many processes as there are cores. Prints images/s."""
import multiprocessing as mp
import os
import sys
import time

import numpy as np
from PIL import Image


def prepare(path):
    img = Image.open(path).convert("L")
    img = img.resize((224, 224), Image.BOX)  # area averaging, as `interpolation auto` does when shrinking
    x = np.asarray(img, dtype=np.float32) / 255.0
    return (x - x.mean()) / (x.std() + 1e-8)


def main():
    root = sys.argv[1]
    with open(os.path.join(root, "manifest.csv")) as f:
        next(f)
        paths = [os.path.join(root, line.split(",", 1)[0]) for line in f if line.strip()]
    cores = os.cpu_count() or 1
    with mp.Pool(cores) as pool:
        pool.map(prepare, paths[:8])  # warm the workers
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            out = pool.map(prepare, paths, chunksize=8)
            best = min(best, time.perf_counter() - start)
    assert len(out) == len(paths)
    print(f"pillow+numpy: {len(paths) / best:.0f} images/s ({len(paths)} images, {cores} processes)")


if __name__ == "__main__":
    main()
