#!/usr/bin/python3
"""Test fixtures for wsss-sam and an independent reference of SAM's numerics.

No SAM weights can be had in the tests, so the fixtures are small TorchScript
modules with the interface of scripts/export_sam.py (docs/sam.md) and cheap,
deterministic computations: the embedding is the normalised input image
average-pooled 16x16, and decode paints a logit field in the 256x256 low-res
frame that is positive inside the (transformed) box or near the positive points,
shifted by the embedding, so that both the prompt transform and the image
preprocessing change the masks. The reference below reproduces
segment_anything's SamPredictor (ResizeLongestSide through torchvision/PIL,
Sam.preprocess, Sam.postprocess_masks) and EfficientSAM's pipeline in Python, so
the C++ pre- and post-processing are checked against it.

  sam_fixture.py models DIR                     write the fixture modules
  sam_fixture.py numerics DIR                   images + expected tensors for the [sam_python] C++ tests
  sam_fixture.py reference MODEL PROMPTS OUT    label PNGs of prompts (JSON) by the reference pipeline
"""
import json
import os
import sys
from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

LOW = 256


class Field(torch.nn.Module):
    """The interface of scripts/export_sam.py with a hand-made 'model'."""

    sam_interface: int
    image_size: int
    input_frame: str
    embed_calls: int

    def __init__(self, image_size: int = 1024, input_frame: str = "pad"):
        super().__init__()
        self.sam_interface = 1
        self.image_size = image_size
        self.input_frame = input_frame
        self.embed_calls = 0

    @torch.jit.export
    def embed(self, image: torch.Tensor) -> torch.Tensor:
        self.embed_calls += 1
        assert image.shape[2] == self.image_size and image.shape[3] == self.image_size
        return F.avg_pool2d(image, self.image_size // 64)

    @torch.jit.export
    def decode(self, embeddings: torch.Tensor, boxes: torch.Tensor, points: torch.Tensor,
               point_labels: torch.Tensor, multimask: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        n = points.shape[0]
        cell = self.image_size / 256
        c = (torch.arange(256, dtype=torch.float32) + 0.5) * cell  # cell centres, input frame
        ys = c.view(1, 256, 1).expand(n, 256, 256)
        xs = c.view(1, 1, 256).expand(n, 256, 256)
        field = torch.full((n, 256, 256), -1000.0)
        if boxes.shape[0] > 0:
            b = boxes.view(n, 4, 1, 1)
            inside = torch.min(torch.min(xs - b[:, 0], b[:, 2] - xs), torch.min(ys - b[:, 1], b[:, 3] - ys))
            field = torch.max(field, inside / 8.0)
        for k in range(points.shape[1]):
            d = torch.sqrt((xs - points[:, k, 0].view(n, 1, 1)) ** 2 + (ys - points[:, k, 1].view(n, 1, 1)) ** 2)
            disk = (40.0 - d) / 8.0
            pos = (point_labels[:, k] == 1).view(n, 1, 1)
            field = torch.where(pos, torch.max(field, disk), torch.min(field, -disk))
        emb = embeddings.mean(1, keepdim=True)
        emb = F.interpolate(emb, size=[256, 256], mode="nearest")[:, 0]
        field = field + 0.5 * emb
        if multimask:
            masks = torch.stack([field - 1.5, field, field + 1.5], 1)
            iou = torch.tensor([0.5, 0.7, 0.9]).view(1, 3).expand(n, 3)
        else:
            masks = field.unsqueeze(1)
            iou = torch.full((n, 1), 0.8)
        return masks, iou


class NoDecode(torch.nn.Module):
    sam_interface: int

    def __init__(self):
        super().__init__()
        self.sam_interface = 1

    @torch.jit.export
    def embed(self, image: torch.Tensor) -> torch.Tensor:
        return image


class BadSignature(NoDecode):
    @torch.jit.export
    def decode(self, embeddings: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        return boxes


class BadShape(Field):
    @torch.jit.export
    def decode(self, embeddings: torch.Tensor, boxes: torch.Tensor, points: torch.Tensor,
               point_labels: torch.Tensor, multimask: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        n = points.shape[0]
        return torch.zeros(n, 2, 256, 256), torch.zeros(n, 2)


class NoVersion(torch.nn.Module):
    @torch.jit.export
    def embed(self, image: torch.Tensor) -> torch.Tensor:
        return image


def write_models(out):
    os.makedirs(out, exist_ok=True)
    torch.jit.script(Field()).save(os.path.join(out, "field.pt"))
    torch.jit.script(Field(1024, "stretch")).save(os.path.join(out, "field_stretch.pt"))
    torch.jit.script(NoDecode()).save(os.path.join(out, "no_decode.pt"))
    torch.jit.script(BadSignature()).save(os.path.join(out, "bad_signature.pt"))
    torch.jit.script(BadShape()).save(os.path.join(out, "bad_shape.pt"))
    torch.jit.script(NoVersion()).save(os.path.join(out, "no_version.pt"))
    with open(os.path.join(out, "not_torchscript.pt"), "wb") as f:
        f.write(b"PK\x03\x04 this is not a TorchScript archive")


# ---- the reference: segment_anything's and EfficientSAM's code paths ----

def get_preprocess_shape(oldh, oldw, long_side_length):  # ResizeLongestSide
    scale = long_side_length * 1.0 / max(oldh, oldw)
    newh, neww = oldh * scale, oldw * scale
    return int(newh + 0.5), int(neww + 0.5)


def resize_pil(image, size_hw):
    """ResizeLongestSide.apply_image: torchvision resize of a PIL image (bilinear)."""
    try:
        from torchvision.transforms.functional import resize, to_pil_image
        return np.array(resize(to_pil_image(image), list(size_hw)))
    except ImportError:
        return np.array(Image.fromarray(image).resize((size_hw[1], size_hw[0]), Image.BILINEAR))


def preprocess(image, model):
    s = model.image_size
    if model.input_frame == "pad":
        newh, neww = get_preprocess_shape(image.shape[0], image.shape[1], s)
        x = torch.as_tensor(resize_pil(image, (newh, neww))).permute(2, 0, 1).contiguous()[None]
        mean = torch.Tensor([123.675, 116.28, 103.53]).view(-1, 1, 1)
        std = torch.Tensor([58.395, 57.12, 57.375]).view(-1, 1, 1)
        x = (x - mean) / std
        return F.pad(x, (0, s - neww, 0, s - newh)), (newh, neww)
    x = torch.from_numpy(image.transpose(2, 0, 1)).contiguous().float().div(255)[None]
    x = F.interpolate(x, (s, s), mode="bilinear")
    mean = torch.Tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.Tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std, (s, s)


def apply_coords(coords, original_size, model):
    old_h, old_w = original_size
    if model.input_frame == "pad":
        new_h, new_w = get_preprocess_shape(old_h, old_w, model.image_size)
        coords = np.array(coords, dtype=np.float32).astype(float)
        coords[..., 0] = coords[..., 0] * (new_w / old_w)
        coords[..., 1] = coords[..., 1] * (new_h / old_h)
        return torch.as_tensor(coords, dtype=torch.float)
    t = torch.as_tensor(np.array(coords, dtype=np.float32))
    return torch.stack([t[..., 0] * model.image_size / old_w, t[..., 1] * model.image_size / old_h], -1)


def postprocess(low_res, input_size, original_size, model):
    s = model.image_size
    if model.input_frame == "pad":  # Sam.postprocess_masks, then > mask_threshold (0.0)
        m = F.interpolate(low_res, (s, s), mode="bilinear", align_corners=False)
        m = m[..., : input_size[0], : input_size[1]]
        m = F.interpolate(m, original_size, mode="bilinear", align_corners=False)
        return m > 0.0
    m = F.interpolate(low_res, original_size, mode="bicubic")  # EfficientSam.predict_masks
    return m >= 0


def reference_masks(model, image, prompts, multimask=False):
    """One binary mask (H, W) per prompt, each prompt a dict with box and/or points, labels."""
    h, w = image.shape[:2]
    x, input_size = preprocess(image, model)
    with torch.no_grad():
        emb = model.embed(x)
        out = []
        for p in prompts:  # one prompt per decode call: the batching of the binary must not matter
            box = p.get("box")
            boxes = apply_coords(np.array(box).reshape(-1, 2, 2), (h, w), model).reshape(-1, 4) if box \
                else torch.zeros(0, 4)
            pts = p.get("points", [])
            points = apply_coords(np.array(pts).reshape(1, -1, 2), (h, w), model) if pts else torch.zeros(1, 0, 2)
            labels = torch.tensor(p.get("labels", []), dtype=torch.int).view(1, -1)
            masks, iou = model.decode(emb, boxes, points, labels, multimask)
            best = int(torch.argmax(iou[0])) if multimask else 0
            out.append(postprocess(masks[:, best:best + 1], input_size, (h, w), model)[0, 0].numpy())
    return out


def write_reference(model_file, prompts_file, out_dir):
    """prompts_file: {"images": {id: path}, "prompts": {id: [{class_id, box?, points?, labels?}]}}.
    Writes OUT/<id>.png merged with SAM_WSSS's rule (np.maximum of class id x mask)."""
    model = torch.jit.load(model_file)
    spec = json.load(open(prompts_file))
    multimask = spec.get("multimask", False)
    os.makedirs(out_dir, exist_ok=True)
    for image_id, path in spec["images"].items():
        image = np.array(Image.open(path).convert("RGB"))
        prompts = spec["prompts"].get(image_id, [])
        merged = np.zeros(image.shape[:2], np.uint8)
        for p, m in zip(prompts, reference_masks(model, image, prompts, multimask)):
            merged = np.maximum(merged, m.astype(np.uint8) * p["class_id"])
        Image.fromarray(merged).save(os.path.join(out_dir, image_id + ".png"))
    print("embed calls:", model.embed_calls)


def write_numerics(out):
    """Images, the expected model inputs and postprocessed logits, for the C++ [sam_python] tests."""
    os.makedirs(out, exist_ok=True)
    write_models(out)
    rng = np.random.default_rng(7)
    cases = [(375, 500), (500, 333), (40, 30), (1500, 1100), (1024, 1024), (17, 1200)]
    for i, (h, w) in enumerate(cases):
        # Smooth structure plus noise: both interpolation and rounding matter.
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), ((xx + yy) * 7) % 256], -1)
        image = np.clip(base + rng.integers(-40, 41, size=(h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(os.path.join(out, f"image{i}.png"))
        for frame in ("pad", "stretch"):
            model = torch.jit.load(os.path.join(out, "field.pt" if frame == "pad" else "field_stretch.pt"))
            x, input_size = preprocess(image, model)
            np.save(os.path.join(out, f"input{i}_{frame}.npy"), x[0].numpy().astype(np.float32))
            low = torch.from_numpy(rng.normal(size=(2, LOW, LOW)).astype(np.float32)) * 3
            logits = F.interpolate(low[None], (model.image_size, model.image_size), mode="bilinear",
                                   align_corners=False)[..., : input_size[0], : input_size[1]] \
                if frame == "pad" else None
            logits = F.interpolate(logits, (h, w), mode="bilinear", align_corners=False) if frame == "pad" \
                else F.interpolate(low[None], (h, w), mode="bicubic")
            np.save(os.path.join(out, f"low{i}_{frame}.npy"), low.numpy())
            np.save(os.path.join(out, f"logits{i}_{frame}.npy"), logits[0].numpy())
    json.dump({"cases": [list(c) for c in cases]}, open(os.path.join(out, "cases.json"), "w"))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "models":
        write_models(sys.argv[2])
    elif cmd == "numerics":
        write_numerics(sys.argv[2])
    elif cmd == "reference":
        write_reference(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
