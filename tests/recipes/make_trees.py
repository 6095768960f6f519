#!/usr/bin/python3
"""Tiny real-layout data sets for the recipe tests, made from wsss-data synth output.

  make_trees.py voc    SYNTH_TRAIN SYNTH_VAL OUT [--names voc|custom]
  make_trees.py coco   SYNTH_TRAIN SYNTH_VAL OUT

voc: OUT/VOC2012 in VOC's layout: JPEGImages/*.jpg, Annotations/*.xml (one
<object> per connected region, with <name>), SegmentationClass/*.png and
SegmentationClassAug/*.png (palette PNGs with VOC's 255 band of 1 px on every
class boundary), ImageSets/Segmentation/{train,val}.txt and
ImageSets/SegmentationAug/train_aug.txt (the two-column DeepLab form).
--names voc maps the synthetic classes onto VOC names (ids in the masks are
VOC's); --names custom keeps a set's own names and writes OUT/VOC2012/classes.txt
(background first, CRLF line ends, as such files often come).

coco: OUT/coco/{train2014,val2014}/*.jpg and annotations/instances_{train,val}2014.json
with non-standard category ids and names, each connected region an instance
(compressed RLE), COCO's 12-digit file names.

Written with numpy/PIL only, independently of the C++ code under test.
"""
import json
import os
import sys

import numpy as np
from PIL import Image

SYNTH = ["background", "ball", "box", "kite", "star", "ring", "train"]
VOC_NAMES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
             "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
             "tvmonitor"]
# synthetic class -> (VOC name, custom name, COCO-style category id, COCO name)
MAPPING = {1: ("bottle", "sphere", 37, "sports ball"), 2: ("boat", "crate", 61, "cake box"),
           3: ("aeroplane", "kite", 38, "kite"), 4: ("bird", "starfish", 101, "star toy"),
           5: ("cat", "hoop", 102, "ring toy"), 6: ("train", "locomotive", 7, "train")}


def voc_palette():
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def records(synth_dir):
    for line in open(os.path.join(synth_dir, "manifest.jsonl")):
        r = json.loads(line)
        image = Image.open(os.path.join(synth_dir, r["image"])).convert("RGB")
        mask = np.array(Image.open(os.path.join(synth_dir, r["mask"])))
        yield r["id"], image, mask


def components(binary):
    """4-connected components of a boolean array: a list of boolean masks."""
    h, w = binary.shape
    seen = np.zeros_like(binary, dtype=bool)
    out = []
    for y0, x0 in zip(*np.nonzero(binary)):
        if seen[y0, x0]:
            continue
        comp = np.zeros_like(binary, dtype=bool)
        stack = [(y0, x0)]
        seen[y0, x0] = True
        while stack:
            y, x = stack.pop()
            comp[y, x] = True
            for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                v, u = y + dy, x + dx
                if 0 <= v < h and 0 <= u < w and binary[v, u] and not seen[v, u]:
                    seen[v, u] = True
                    stack.append((v, u))
        out.append(comp)
    return out


def boundary_band(mask):
    """Pixels whose 4-neighbourhood holds another class: VOC's 255 outline."""
    band = np.zeros(mask.shape, bool)
    band[:-1, :] |= mask[:-1, :] != mask[1:, :]
    band[1:, :] |= mask[1:, :] != mask[:-1, :]
    band[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    band[:, 1:] |= mask[:, 1:] != mask[:, :-1]
    return band


def voc(train_dir, val_dir, out, names):
    d = os.path.join(out, "VOC2012")
    for sub in ["JPEGImages", "Annotations", "ImageSets/Segmentation", "ImageSets/SegmentationAug",
                "SegmentationClass", "SegmentationClassAug"]:
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    if names == "voc":
        to_id = {k: VOC_NAMES.index(v[0]) for k, v in MAPPING.items()}
        name_of = {to_id[k]: v[0] for k, v in MAPPING.items()}
    else:
        custom = ["background"] + [MAPPING[k][1] for k in sorted(MAPPING)] + ["unused-class"]
        with open(os.path.join(d, "classes.txt"), "w", newline="") as f:
            f.write("\r\n".join(custom) + "\r\n")
        to_id = {k: k for k in MAPPING}
        name_of = {k: MAPPING[k][1] for k in MAPPING}
    lists = {"train": [], "val": []}
    for split, synth in (("train", train_dir), ("val", val_dir)):
        for id_, image, mask in records(synth):
            lists[split].append(id_)
            image.save(os.path.join(d, "JPEGImages", id_ + ".jpg"), quality=95)
            label = np.zeros_like(mask)
            objects = []
            for k in sorted(MAPPING):
                label[mask == k] = to_id[k]
                for comp in components(mask == k):
                    ys, xs = np.nonzero(comp)
                    objects.append((name_of[to_id[k]], xs.min() + 1, ys.min() + 1, xs.max() + 1, ys.max() + 1))
            label[boundary_band(label)] = 255
            png = Image.fromarray(label.astype(np.uint8), mode="P")
            png.putpalette(voc_palette())
            for gt in ("SegmentationClass", "SegmentationClassAug"):
                png.save(os.path.join(d, gt, id_ + ".png"))
            xml = ["<annotation>", f"\t<filename>{id_}.jpg</filename>",
                   f"\t<size><width>{image.width}</width><height>{image.height}</height><depth>3</depth></size>"]
            for name, x0, y0, x1, y1 in objects:
                xml += ["\t<object>", f"\t\t<name>{name}</name>", "\t\t<difficult>0</difficult>",
                        f"\t\t<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox>",
                        "\t</object>"]
            xml.append("</annotation>")
            with open(os.path.join(d, "Annotations", id_ + ".xml"), "w") as f:
                f.write("\n".join(xml) + "\n")
    for split, ids in lists.items():
        with open(os.path.join(d, "ImageSets/Segmentation", split + ".txt"), "w") as f:
            f.write("".join(i + "\n" for i in ids))
    with open(os.path.join(d, "ImageSets/SegmentationAug/train_aug.txt"), "w") as f:
        f.write("".join(f"/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png\n" for i in lists["train"]))


def rle_counts(binary):
    """Column-major runs starting with a 0-run (pycocotools rleEncode)."""
    flat = binary.flatten(order="F").astype(np.uint8)
    counts, prev, run = [], 0, 0
    for v in flat:
        if v != prev:
            counts.append(run)
            run, prev = 0, v
        run += 1
    counts.append(run)
    return counts


def rle_string(counts):
    """pycocotools maskApi.c rleToString."""
    out = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def coco(train_dir, val_dir, out):
    root = os.path.join(out, "coco")
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    categories = [{"id": MAPPING[k][2], "name": MAPPING[k][3], "supercategory": "thing"} for k in sorted(MAPPING)]
    for split, synth in (("train2014", train_dir), ("val2014", val_dir)):
        os.makedirs(os.path.join(root, split), exist_ok=True)
        images, annotations = [], []
        for n, (id_, image, mask) in enumerate(records(synth)):
            image_id = 1000 + n
            name = f"COCO_{split}_{image_id:012d}.jpg"
            image.save(os.path.join(root, split, name), quality=95)
            images.append({"id": image_id, "file_name": name, "width": image.width, "height": image.height})
            for k in sorted(MAPPING):
                for comp in components(mask == k):
                    ys, xs = np.nonzero(comp)
                    annotations.append({
                        "id": len(annotations) + 1 + 100000 * (split == "val2014"), "image_id": image_id,
                        "category_id": MAPPING[k][2], "iscrowd": 0, "area": float(comp.sum()),
                        "bbox": [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                                 float(ys.max() - ys.min() + 1)],
                        "segmentation": {"size": [image.height, image.width], "counts": rle_string(rle_counts(comp))}})
        with open(os.path.join(root, "annotations", f"instances_{split}.json"), "w") as f:
            json.dump({"images": images, "annotations": annotations, "categories": categories}, f)


if __name__ == "__main__":
    kind, train_dir, val_dir, out = sys.argv[1:5]
    if kind == "voc":
        voc(train_dir, val_dir, out, sys.argv[6] if len(sys.argv) > 6 and sys.argv[5] == "--names" else "voc")
    else:
        coco(train_dir, val_dir, out)
