#!/usr/bin/env python3
"""pydensecrf's side of wsss_bench_refine's side-by-side CRF benchmark.

Started once by the benchmark (pydensecrf on PYTHONPATH); answers one request per
line on stdin, so that the two implementations run in turn on the same images:

  run FILE W H L ITERS           -> "cpu_ms wall_ms": one CRF on that image
  batch WORKERS ITERS FILE W H L [FILE W H L ...]
                                 -> "wall_ms": every image once, on WORKERS processes

FILE holds the image (H*W*3 uint8, RGB) followed by the label map (H*W uint8). The
timed steps are those of the C++ side: DenseCRF2D, setUnaryEnergy (the unary from
unary_from_labels is made before the clock starts), addPairwiseGaussian(3, 3),
addPairwiseBilateral(50, 5, img, 10), inference(ITERS) and the copy of Q into numpy.
CPU time is this thread's (time.thread_time), as the C++ side measures its own.
"""
import multiprocessing
import sys
import time

import numpy as np
import pydensecrf.densecrf as dcrf
from pydensecrf.utils import unary_from_labels


def load(path, w, h):
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size != h * w * 4:
        raise SystemExit(f"pydensecrf_bench: {path}: {raw.size} bytes, expected {h * w * 4}")
    img = np.ascontiguousarray(raw[: h * w * 3].reshape(h, w, 3))
    labels = raw[h * w * 3 :].reshape(h, w).astype(np.int64)
    return img, labels


def crf(img, unary, w, h, n_labels, iterations):
    d = dcrf.DenseCRF2D(w, h, n_labels)
    d.setUnaryEnergy(unary)
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=50, srgb=5, rgbim=img, compat=10)
    return np.array(d.inference(iterations))


def one(job):
    path, w, h, n_labels, iterations = job
    img, labels = load(path, w, h)
    unary = unary_from_labels(labels, n_labels, gt_prob=0.7, zero_unsure=False)
    q = crf(img, unary, w, h, n_labels, iterations)
    return q.shape[0]


def main():
    pool = None
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "run":
            path, w, h, n_labels, iterations = words[1], *map(int, words[2:6])
            img, labels = load(path, w, h)
            unary = unary_from_labels(labels, n_labels, gt_prob=0.7, zero_unsure=False)
            c0, t0 = time.thread_time(), time.perf_counter()
            q = crf(img, unary, w, h, n_labels, iterations)
            c1, t1 = time.thread_time(), time.perf_counter()
            assert q.shape == (n_labels, w * h)
            print(f"{(c1 - c0) * 1e3:.3f} {(t1 - t0) * 1e3:.3f}", flush=True)
        elif words[0] == "batch":
            workers, iterations = int(words[1]), int(words[2])
            jobs = [(words[i], int(words[i + 1]), int(words[i + 2]), int(words[i + 3]), iterations)
                    for i in range(3, len(words), 4)]
            if pool is None or pool._processes != workers:
                if pool is not None:
                    pool.close()
                pool = multiprocessing.Pool(workers)
                pool.map(one, jobs[:workers])  # start-up and imports outside the clock
            t0 = time.perf_counter()
            pool.map(one, jobs, chunksize=1)
            print(f"{(time.perf_counter() - t0) * 1e3:.3f}", flush=True)
        else:
            raise SystemExit(f"pydensecrf_bench: unknown request {words[0]!r}")
    if pool is not None:
        pool.close()


if __name__ == "__main__":
    main()
