#!/usr/bin/env python3
"""The label CRF of wsss against pydensecrf's own example (examples/inference.py).

  pydensecrf_labels.py prepare EXAMPLES DIR   -> DIR/manifest.jsonl, classes.json, masks
  pydensecrf_labels.py compare EXAMPLES DIR WSSS_OUT

prepare: for each example image and annotation, the labels exactly as inference.py
makes them (the annotation's colours, read as cv2.imread reads them, i.e. BGR, packed
as 0xBBGGRR; np.unique gives label 1.. in colour order; black is "unknown" when
present), written as a wsss mask (field "pseudo"): label i+1 -> class id i, unknown -> 255 (wsss's
unsure value). wsss's CRF then has the same labels in the same order (background,
i.e. class 0, is inference.py's first colour).

compare: pydensecrf run as inference.py runs it (the generic DenseCRF with
create_pairwise_gaussian(sdims=(3, 3)), create_pairwise_bilateral(sdims=(80, 80),
schan=(13, 13, 13)) on the BGR image, compat 3 and 10, unary_from_labels(gt_prob=0.7,
zero_unsure=HAS_UNK), inference(5)), its argmax against the argmax of wsss's
marginals; prints the agreement per image and pooled, exits 1 below 99% on any image.
Also prints, for information, the agreement of both with the example's published
outputs (outN.png, made by an older densecrf build).
"""
import json
import os
import sys

import numpy as np
from PIL import Image

EXAMPLES = [("im1", "anno1"), ("im1", "anno1-b"), ("im2", "anno2"), ("im3", "anno3")]


def bgr(path):
    return np.ascontiguousarray(np.array(Image.open(path).convert("RGB"))[:, :, ::-1])


def example_labels(anno_path):
    """inference.py's labels: (labels 0..n with 0 = unknown if HAS_UNK, colours, HAS_UNK)."""
    anno_rgb = bgr(anno_path).astype(np.uint32)  # cv2.imread's channel order
    anno_lbl = anno_rgb[:, :, 0] + (anno_rgb[:, :, 1] << 8) + (anno_rgb[:, :, 2] << 16)
    colors, labels = np.unique(anno_lbl, return_inverse=True)
    has_unk = 0 in colors
    if has_unk:
        colors = colors[1:]
    return labels.reshape(anno_lbl.shape), colors, has_unk


def prepare(examples, out):
    os.makedirs(os.path.join(out, "pseudo"), exist_ok=True)
    records, most = [], 1
    for im, anno in EXAMPLES:
        labels, colors, has_unk = example_labels(os.path.join(examples, anno + ".png"))
        n = len(colors)
        # Label l (1..n with unknown, 0..n-1 without) is CRF label l-1 (or l): class id l-1 (or l).
        mask = (labels - 1 if has_unk else labels).astype(np.int64)
        mask[mask < 0] = 255
        assert mask.max() < 255 or has_unk
        Image.fromarray(mask.astype(np.uint8), mode="L").save(os.path.join(out, "pseudo", anno + ".png"))
        records.append({"id": anno, "image": os.path.abspath(os.path.join(examples, im + ".png")),
                        "pseudo": "pseudo/" + anno + ".png"})
        most = max(most, n)
    with open(os.path.join(out, "manifest.jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    vocab = {"format": "wsss-classes", "version": 1, "name": "pydensecrf-example",
             "classes": ["background"] + [f"label{i}" for i in range(1, most)], "ignore": 255, "palette": "voc"}
    with open(os.path.join(out, "classes.json"), "w") as f:
        json.dump(vocab, f)


def pydensecrf_map(examples, im, anno):
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import create_pairwise_bilateral, create_pairwise_gaussian, unary_from_labels

    img = bgr(os.path.join(examples, im + ".png"))
    labels, colors, has_unk = example_labels(os.path.join(examples, anno + ".png"))
    n_labels = len(set(labels.flat)) - int(has_unk)
    d = dcrf.DenseCRF(img.shape[1] * img.shape[0], n_labels)
    d.setUnaryEnergy(unary_from_labels(labels, n_labels, gt_prob=0.7, zero_unsure=has_unk))
    d.addPairwiseEnergy(create_pairwise_gaussian(sdims=(3, 3), shape=img.shape[:2]), compat=3,
                        kernel=dcrf.DIAG_KERNEL, normalization=dcrf.NORMALIZE_SYMMETRIC)
    d.addPairwiseEnergy(create_pairwise_bilateral(sdims=(80, 80), schan=(13, 13, 13), img=img, chdim=2),
                        compat=10, kernel=dcrf.DIAG_KERNEL, normalization=dcrf.NORMALIZE_SYMMETRIC)
    q = np.array(d.inference(5))
    return np.argmax(q, axis=0).reshape(img.shape[:2]), colors


def compare(examples, out, wsss_out):
    records = {json.loads(l)["id"]: json.loads(l) for l in open(os.path.join(wsss_out, "manifest.jsonl"))}
    total = same = 0
    worst = 1.0
    ok = True
    for im, anno in EXAMPLES:
        ref, colors = pydensecrf_map(examples, im, anno)
        r = records[anno]
        q = np.load(os.path.join(wsss_out, r["refined"]))
        classes = r["refined_classes"]
        if classes != list(range(len(colors))):
            print(f"{anno}: wsss's classes {classes} are not pydensecrf's {len(colors)} labels")
            ok = False
            continue
        ours = np.argmax(q, axis=0)
        agree = float((ours == ref).mean())
        # The example's published output, as CRF labels (its colours back to indices).
        pub = bgr(os.path.join(examples, "out" + anno[4:] + ".png")).astype(np.uint32)
        pub_lbl = pub[:, :, 0] + (pub[:, :, 1] << 8) + (pub[:, :, 2] << 16)
        pub_idx = np.searchsorted(colors, pub_lbl)
        print(f"{anno} ({ref.shape[1]}x{ref.shape[0]}, {len(colors)} labels): wsss vs pydensecrf "
              f"{100 * agree:.3f}% of pixels; vs the published {('out' + anno[4:])}.png: "
              f"wsss {100 * (ours == pub_idx).mean():.3f}%, pydensecrf {100 * (ref == pub_idx).mean():.3f}%")
        total += ref.size
        same += int((ours == ref).sum())
        worst = min(worst, agree)
        ok = ok and agree >= 0.99
    print(f"pooled: {100 * same / max(total, 1):.3f}% of {total} pixels agree; worst image {100 * worst:.3f}% "
          f"(required: >= 99% on every image)")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        sys.exit(__doc__)
