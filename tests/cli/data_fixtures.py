"""Tiny fake data sets for the wsss-data import tests (run with /usr/bin/python3).

  data_fixtures.py voc DIR      DIR/VOC2012 in the VOCdevkit layout
  data_fixtures.py coco DIR     DIR/images/*.jpg + DIR/instances.json (+ DIR/expected/*.png)
  data_fixtures.py folder DIR   DIR/images/*.jpg + DIR/labels.csv + DIR/masks/*.png

Everything is written with PIL/numpy, independently of the C++ code under test;
expected COCO masks are painted here with PIL's polygon fill and a Python RLE
encoder written from pycocotools' maskApi.c.
"""
import json
import os
import sys

import numpy as np
from PIL import Image, ImageDraw


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


def save_jpeg(path, w, h, seed):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path, quality=90)


def save_palette_png(path, arr):
    im = Image.fromarray(arr.astype(np.uint8), mode="P")
    im.putpalette(voc_palette())
    im.save(path)


def voc(root):
    d = os.path.join(root, "VOC2012")
    for sub in ["JPEGImages", "Annotations", "ImageSets/Segmentation", "ImageSets/SegmentationAug",
                "SegmentationClass", "SegmentationClassAug"]:
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    # id: (objects as (name, difficult), mask classes or None when not in SegmentationClass)
    items = {
        "2007_000001": ([("person", 0), ("dog", 1)], [15, 12]),   # difficult dog still a label
        "2007_000002": ([("cat", 0), ("cat", 0)], [8]),
        "2007_000003": ([("tvmonitor", 0)], [20]),
        "2008_000004": ([("aeroplane", 0), ("person", 0)], None),  # SBD only
        "2008_000005": ([("bus", 0)], None),
    }
    for k, (id_, (objects, classes)) in enumerate(sorted(items.items())):
        w, h = 40 + k, 30
        save_jpeg(os.path.join(d, "JPEGImages", id_ + ".jpg"), w, h, k)
        xml = ["<annotation>", "\t<folder>VOC2012</folder>", f"\t<filename>{id_}.jpg</filename>",
               "\t<source><database>The VOC2007 Database</database></source>",
               f"\t<size><width>{w}</width><height>{h}</height><depth>3</depth></size>"]
        for name, difficult in objects:
            xml += ["\t<object>", f"\t\t<name>{name}</name>", "\t\t<pose>Unspecified</pose>",
                    f"\t\t<difficult>{difficult}</difficult>"]
            if name == "person":  # person layout parts carry <name> too: not objects
                xml += ["\t\t<part>", "\t\t\t<name>head</name>", "\t\t\t<bndbox><xmin>1</xmin></bndbox>", "\t\t</part>"]
            xml += ["\t\t<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>", "\t</object>"]
        xml.append("</annotation>")
        with open(os.path.join(d, "Annotations", id_ + ".xml"), "w") as f:
            f.write("\n".join(xml) + "\n")
        arr = np.zeros((h, w), np.uint8)
        mask_classes = classes if classes else sorted({{"aeroplane": 1, "person": 15, "bus": 6}[n] for n, _ in objects})
        for i, c in enumerate(mask_classes):
            arr[5 + 5 * i: 10 + 5 * i, 5:20] = c
        arr[0, :] = 255  # void border
        if classes is not None:
            save_palette_png(os.path.join(d, "SegmentationClass", id_ + ".png"), arr)
        Image.fromarray(arr, mode="L").save(os.path.join(d, "SegmentationClassAug", id_ + ".png"))
    seg = os.path.join(d, "ImageSets/Segmentation")
    with open(os.path.join(seg, "train.txt"), "w") as f:
        f.write("2007_000001\n2007_000003\n")
    with open(os.path.join(seg, "val.txt"), "w") as f:
        f.write("2007_000002\n")
    with open(os.path.join(seg, "trainval.txt"), "w") as f:
        f.write("2007_000001\n2007_000002\n2007_000003\n")
    with open(os.path.join(d, "ImageSets/SegmentationAug/train_aug.txt"), "w") as f:
        for id_ in ["2008_000005", "2007_000001", "2008_000004", "2007_000003"]:  # DeepLab two-column form
            f.write(f"/JPEGImages/{id_}.jpg /SegmentationClassAug/{id_}.png\n")


def rle_encode_counts(binary):
    """Column-major runs starting with a 0-run (pycocotools rleEncode)."""
    flat = binary.flatten(order="F")
    counts, prev, run = [], 0, 0
    for v in flat:
        if v != prev:
            counts.append(run)
            run, prev = 0, v
        run += 1
    counts.append(run)
    return counts


def rle_to_string(counts):
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


def coco(root):
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    os.makedirs(os.path.join(root, "expected"), exist_ok=True)
    # Non-contiguous category ids, listed out of order: mapped by sorted id.
    categories = [{"id": 18, "name": "dog", "supercategory": "animal"},
                  {"id": 1, "name": "person", "supercategory": "person"},
                  {"id": 90, "name": "toothbrush", "supercategory": "indoor"},
                  {"id": 3, "name": "car", "supercategory": "vehicle"}]
    cls = {1: 1, 3: 2, 18: 3, 90: 4}
    images, annotations = [], []
    rng = np.random.default_rng(7)
    ann_id = 100
    for k, image_id in enumerate([42, 7, 1234, 99]):
        w, h = 48 + 4 * k, 36
        name = f"{image_id:012d}.jpg"
        save_jpeg(os.path.join(root, "images", name), w, h, k)
        images.append({"id": image_id, "file_name": name, "width": w, "height": h, "license": 1})
        expected = np.zeros((h, w), np.uint8)
        if image_id == 99:  # no annotations at all
            Image.fromarray(expected).save(os.path.join(root, "expected", f"{image_id:012d}.png"))
            continue
        # Two overlapping integer polygons: the later one must win the overlap.
        for cat, (x0, y0) in [(1, (5, 5)), (18, (12, 10))]:
            poly = [x0, y0, x0 + 20, y0, x0 + 20, y0 + 15, x0, y0 + 15]
            annotations.append({"id": ann_id, "image_id": image_id, "category_id": cat, "iscrowd": 0,
                                "segmentation": [poly], "area": 1.0, "bbox": [x0, y0, 20, 15]})
            ann_id += 1
            im = Image.fromarray(expected)
            ImageDraw.Draw(im).polygon(poly, fill=cls[cat])
            expected = np.array(im)
        # A non-crowd instance as compressed RLE, painted last.
        blob = np.zeros((h, w), np.uint8)
        blob[rng.integers(0, h, 40), rng.integers(0, w, 40)] = 1
        blob[20:30, 30:40] = 1
        annotations.append({"id": ann_id, "image_id": image_id, "category_id": 3, "iscrowd": 0,
                            "segmentation": {"size": [h, w], "counts": rle_to_string(rle_encode_counts(blob))},
                            "area": 1.0, "bbox": [0, 0, 1, 1]})
        ann_id += 1
        expected[blob == 1] = cls[3]
        # A crowd region (uncompressed RLE) of a category not otherwise present:
        # a label, but never painted.
        if image_id == 42:
            crowd = np.zeros((h, w), np.uint8)
            crowd[0:4, :] = 1
            crowd_cat = 90
            annotations.append({"id": ann_id, "image_id": image_id, "category_id": crowd_cat, "iscrowd": 1,
                                "segmentation": {"size": [h, w], "counts": rle_encode_counts(crowd)},
                                "area": 1.0, "bbox": [0, 0, w, 4]})
            ann_id += 1
        Image.fromarray(expected).save(os.path.join(root, "expected", f"{image_id:012d}.png"))
    with open(os.path.join(root, "instances.json"), "w") as f:
        json.dump({"info": {}, "licenses": [], "images": images, "annotations": annotations,
                   "categories": categories}, f)


def folder(root):
    os.makedirs(os.path.join(root, "images", "sub"), exist_ok=True)
    os.makedirs(os.path.join(root, "masks"), exist_ok=True)
    for k, name in enumerate(["a.jpg", "b.png", "sub/c.jpg"]):
        path = os.path.join(root, "images", name)
        if name.endswith(".png"):
            Image.fromarray(np.full((20, 30, 3), 9 * k, np.uint8)).save(path)
        else:
            save_jpeg(path, 30, 20, k)
    arr = np.zeros((20, 30), np.uint8)
    arr[2:8, 2:8] = 12
    save_palette_png(os.path.join(root, "masks", "a.png"), arr)
    with open(os.path.join(root, "labels.csv"), "w") as f:
        f.write("file,labels,mask\n")
        f.write("a.jpg,dog person,masks/a.png\n")
        f.write("b.png,15;diningtable\n")
        f.write("\"sub/c.jpg\",\n")


if __name__ == "__main__":
    {"voc": voc, "coco": coco, "folder": folder}[sys.argv[1]](sys.argv[2])
