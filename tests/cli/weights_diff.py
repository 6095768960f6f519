#!/usr/bin/env python3
"""Relative difference of two safetensors weight files (tests of data-parallel training).

    weights_diff.py A.safetensors B.safetensors

Prints one line, "max_rel=X tensor=NAME tensors=N", where X is the largest over
the floating-point tensors of max|a - b| / max|b| (tensors that are all zero in
B compare max|a - b| alone). Exit 1 when the files hold different tensor names,
shapes or dtypes. Reads safetensors with numpy alone.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "U8": np.uint8, "BOOL": np.bool_}


def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def main():
    a, b = read(sys.argv[1]), read(sys.argv[2])
    if sorted(a) != sorted(b):
        print("different tensor names: %s" % sorted(set(a) ^ set(b)))
        return 1
    worst, worst_name = 0.0, ""
    for name in sorted(a):
        x, y = a[name], b[name]
        if x.shape != y.shape or x.dtype != y.dtype:
            print("%s: %s %s vs %s %s" % (name, x.dtype, x.shape, y.dtype, y.shape))
            return 1
        if not np.issubdtype(x.dtype, np.floating) or x.size == 0:
            continue
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        scale = np.abs(y64).max()
        rel = np.abs(x64 - y64).max() / (scale if scale > 0 else 1.0)
        if rel > worst:
            worst, worst_name = rel, name
    print("max_rel=%.3e tensor=%s tensors=%d" % (worst, worst_name or "-", len(a)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
