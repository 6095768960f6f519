#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) from the
test fixtures: the fake VOC and COCO data sets of tests/cli/data_fixtures.py,
the synthetic data set of `wsss-data synth` (masks, manifest, classes.json),
the shipped vocabularies, score maps saved with numpy as the CLI tests save
them, safetensors files laid out as io_safetensors_test writes them, and the
detections and tags forms of tests/unit/pseudo_prompts_test.cpp. Small files
only (a few KB): libFuzzer mutates faster on small inputs.

  /usr/bin/python3 tests/fuzz/make_seeds.py WSSS_BIN OUT_DIR
"""
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "cli"))
import data_fixtures  # noqa: E402


def put(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def head_lines(path, n):
    with open(path, "rb") as f:
        return b"".join(f.readlines()[:n])


def npy_bytes(arr, version=None):
    buf = io.BytesIO()
    if version is None:
        np.save(buf, arr)
    else:
        np.lib.format.write_array(buf, arr, version=version)
    return buf.getvalue()


def safetensors_bytes(tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        dtype, arr = tensors[name]
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def png_bytes(img, **kw):
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    wsss_bin, out = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp()
    try:
        data_fixtures.voc(os.path.join(tmp, "fake"))
        data_fixtures.coco(os.path.join(tmp, "fake"))
        synth = os.path.join(tmp, "synth")
        subprocess.run([os.path.join(wsss_bin, "wsss-data"), "synth", "-q", "--count", "3", "--size", "24x16",
                        "--seed", "1", synth], check=True)
        voc_dir = os.path.join(tmp, "fake", "VOC2012")
        voc_manifest = os.path.join(tmp, "voc")
        subprocess.run([os.path.join(wsss_bin, "wsss-data"), "voc", "-q", voc_dir, voc_manifest, "--split",
                        "trainval"], check=True)

        # manifests
        put(out, "manifest", "synth.jsonl", head_lines(os.path.join(synth, "manifest.jsonl"), 3))
        put(out, "manifest", "voc.jsonl", head_lines(os.path.join(voc_manifest, "manifest.jsonl"), 3))
        put(out, "manifest", "cam.jsonl",
            '{"id":"a/b","image":"../data/a.png","cam":"cam/a.npy","cam_classes":[1,3],"labels":[1,3]}\n'
            '{"id":"c","image":"/abs/c.jpg","mask":"m/c.png","labels":[]}\n\n')
        put(out, "manifest", "bom_crlf.jsonl", b'\xef\xbb\xbf{"id":"x","image":"x.jpg"}\r\n{"id":"y","image":"y.jpg"}\r\n')

        # PNG masks and image headers
        for name in sorted(os.listdir(os.path.join(synth, "masks")))[:2]:
            with open(os.path.join(synth, "masks", name), "rb") as f:
                put(out, "png", "synth_" + name, f.read())
        grey = Image.fromarray((np.arange(48, dtype=np.uint8).reshape(6, 8) % 21))
        put(out, "png", "grey8.png", png_bytes(grey))
        for bits in (1, 2, 4):
            p = Image.fromarray((np.arange(35, dtype=np.uint8).reshape(5, 7) % (1 << bits)), mode="P")
            p.putpalette(data_fixtures.voc_palette()[: 3 * (1 << bits)])
            put(out, "png", f"palette{bits}.png", png_bytes(p, bits=bits))
        put(out, "png", "rgb.png", png_bytes(Image.new("RGB", (4, 3), (10, 20, 30))))
        buf = io.BytesIO()
        Image.new("RGB", (9, 7), (200, 10, 10)).save(buf, format="JPEG", quality=80)
        put(out, "png", "tiny.jpg", buf.getvalue())

        # score maps
        rng = np.random.default_rng(0)
        put(out, "npy", "f4.npy", npy_bytes(rng.random((2, 4, 5), dtype=np.float32)))
        put(out, "npy", "f2.npy", npy_bytes(rng.random((1, 3, 3)).astype(np.float16)))
        put(out, "npy", "v2.npy", npy_bytes(rng.random((3, 2, 2), dtype=np.float32), version=(2, 0)))
        put(out, "npy", "empty.npy", npy_bytes(np.zeros((0, 4, 4), dtype=np.float32)))

        # safetensors
        put(out, "safetensors", "mixed.safetensors", safetensors_bytes(
            {"conv.weight": ("F32", rng.random((2, 1, 2, 2), dtype=np.float32)),
             "bn.num_batches_tracked": ("I64", np.array([3], dtype=np.int64)),
             "half": ("F16", np.ones((3,), dtype=np.float16)),
             "bf": ("BF16", np.array([0x3f80, 0x4000], dtype=np.uint16)),
             "mask": ("BOOL", np.array([1, 0], dtype=np.uint8)),
             "empty": ("F32", np.zeros((0, 2), dtype=np.float32))},
            {"wsss.backbone": '{"arch":"resnet18","base_width":8}', "format": "pt"}))
        put(out, "safetensors", "small.safetensors", safetensors_bytes(
            {"w": ("F64", np.array([1.5, -2.0])), "i": ("I8", np.array([-1, 2], dtype=np.int8)),
             "u": ("U8", np.array([7], dtype=np.uint8)), "s": ("I16", np.array([5], dtype=np.int16)),
             "t": ("I32", np.array([9], dtype=np.int32))}))

        # COCO instances and a compressed RLE
        with open(os.path.join(tmp, "fake", "instances.json"), "rb") as f:
            put(out, "coco", "instances.json", f.read())
        put(out, "coco", "rle.txt", data_fixtures.rle_to_string([3, 2, 5, 1, 4]))
        put(out, "coco", "minimal.json", json.dumps({
            "images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 3}],
            "annotations": [{"id": 5, "image_id": 1, "category_id": 2, "iscrowd": 0,
                             "segmentation": [[0, 0, 3, 0, 3, 2]]},
                            {"id": 6, "image_id": 1, "category_id": 2, "iscrowd": 1,
                             "segmentation": {"size": [3, 4], "counts": [2, 4, 6]}}],
            "categories": [{"id": 2, "name": "cat"}]}))

        # VOC annotations and split lists
        ann = os.path.join(voc_dir, "Annotations")
        for name in sorted(os.listdir(ann))[:3]:
            with open(os.path.join(ann, name), "rb") as f:
                put(out, "voc", name, f.read())
        with open(os.path.join(voc_dir, "ImageSets", "SegmentationAug", "train_aug.txt"), "rb") as f:
            put(out, "voc", "train_aug.txt", f.read())

        # class vocabularies
        for name in ("voc12", "synth"):
            with open(os.path.join(SRC, "data_manifests", name, "classes.json"), "rb") as f:
                put(out, "classes", name + ".json", f.read())
        with open(os.path.join(synth, "classes.json"), "rb") as f:
            put(out, "classes", "synth_written.json", f.read())
        put(out, "classes", "palette.json", json.dumps({
            "format": "wsss-classes", "version": 1, "name": "two", "classes": ["background", "cat"],
            "ignore": 255, "palette": [[0, 0, 0], [128, 0, 0], [1, 2, 3]]}))

        # detections (COCO results) for the fuzz target's three images, and tags
        put(out, "detections", "boxes.json", json.dumps([
            {"image_id": "2007_000032", "category_id": 1, "bbox": [1, 2, 5, 4], "score": 0.9},
            {"image_id": "2007_000032.png", "category_name": "person", "bbox": [0, 0, 16, 12], "score": 0.5},
            {"image_id": 9, "category_id": 3, "bbox": [-1, -1, 3.5, 2], "score": 0.31},
            {"image_id": "b", "category_id": 12, "bbox": [6, 8, 5, 5], "score": 0.2},
            {"image_id": "unknown", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]))
        put(out, "detections", "tags.json", json.dumps(
            {"2007_000032": ["man", "airplane", "sky"], "b": "dog | hot dog", "9": []}))
        put(out, "detections", "tags.txt", "2007_000032\tperson | plane\nb\tdogs, grass\n\n")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
