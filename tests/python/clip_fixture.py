#!/usr/bin/python3
"""Fixtures for the CLIP-ES agreement test (ctest "python: clip_es", label clip).

Writes into OUT_DIR:
  model.pt           a random small CLIP saved like OpenAI's files (clip_reference.py)
  model.safetensors  the same tensors (float16 where the archive has float16)
  img_*.png          synthetic RGB images
  *.npy              what the independent Python reference computes (float32,
                     reshaped to 3 dimensions, the layout the C++ .npy reader takes)
  expected.json      the cases, shapes and prompts

The prompts are VOC's CLIP-ES prompts (data_manifests/voc12/clip_es.json), and
their token ids come from CLIP's own tokenizer via TOKENS_GOLDEN
(shared/data/clip/tokens_golden.jsonl), so the C++ side's tokenizer is checked
end to end by the text embeddings.

  /usr/bin/python3 tests/python/clip_fixture.py OUT_DIR TOKENS_GOLDEN
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import clip_reference as ref  # noqa: E402
from pth_to_safetensors import save_safetensors  # noqa: E402

# (width, height, classes): sides that are and are not multiples of 16, grids
# smaller and larger than the model's 7x7, one and several classes.
CASES = [(100, 75, [3, 15]), (64, 48, [7]), (150, 110, [1, 9, 12]), (112, 112, [20, 5])]


def synthetic_image(rng, width, height):
    """Smooth gradients, a few filled shapes and noise: structure for the CAMs."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin(x / 7 + y / 11)], -1) * 160
    for _ in range(4):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(6, max(8, min(width, height) / 3))
        inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        img[inside] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def save3(path, a):
    a = np.asarray(a, np.float32)
    if a.ndim == 1:
        a = a.reshape(1, 1, -1)
    elif a.ndim == 2:
        a = a.reshape(1, *a.shape)
    np.save(path, np.ascontiguousarray(a))


def main(out, golden_path):
    os.makedirs(out, exist_ok=True)
    golden = {}
    with open(golden_path) as f:
        for line in f:
            if line.strip():
                j = json.loads(line)
                golden[j["text"]] = j["ids"]
    with open(os.path.join(ROOT, "data_manifests", "voc12", "clip_es.json")) as f:
        table = json.load(f)
    with open(os.path.join(ROOT, "data_manifests", "voc12", "classes.json")) as f:
        classes = json.load(f)["classes"]
    templ = table["template"]
    fg_texts = [templ.replace("{}", table["classes"].get(c, c)) for c in classes[1:]]
    bg_texts = [templ.replace("{}", b) for b in table["background"]]
    missing = [t for t in fg_texts + bg_texts if t not in golden]
    if missing:
        sys.exit("clip_fixture: no golden token ids for %r" % missing[:3])

    model = ref.make_model(seed=1414)
    state = ref.save_like_openai(model, os.path.join(out, "model.pt"))
    save_safetensors(state, os.path.join(out, "model.safetensors"))
    clip = ref.load_like_clip(os.path.join(out, "model.pt"))
    torch.set_grad_enabled(True)

    fg_raw, fg = ref.text_features(clip, [golden[t] for t in fg_texts])
    bg_raw, bg = ref.text_features(clip, [golden[t] for t in bg_texts])
    save3(os.path.join(out, "text_raw.npy"), torch.cat([fg_raw, bg_raw], 0).numpy())

    rng = np.random.default_rng(14)
    cases = []
    for i, (w, h, ids) in enumerate(CASES):
        name = "img_%d" % i
        Image.fromarray(synthetic_image(rng, w, h)).save(os.path.join(out, name + ".png"))
        x, (H, W) = ref.clip_es_input(os.path.join(out, name + ".png"))
        maps = ref.clip_es(clip, x, fg, bg, [c - 1 for c in ids], box_threshold=table["box_threshold"])
        refined = ref.refined_at(maps["refined_grid"], H, W)
        labels = ref.background_labels(refined, ids)
        # Margin of the label decision: best minus second-best score per pixel.
        scores = np.concatenate([(1 - refined.max(0))[None], refined], 0)
        top2 = np.sort(scores, 0)[-2:]
        for key in ("feature", "probabilities", "gradcam", "affinity", "box_masks", "refined_grid"):
            save3(os.path.join(out, "%s_%s.npy" % (name, key)), maps[key])
        save3(os.path.join(out, name + "_refined.npy"), refined)
        save3(os.path.join(out, name + "_labels.npy"), labels)
        save3(os.path.join(out, name + "_margin.npy"), top2[1] - top2[0])
        save3(os.path.join(out, name + "_tags.npy"), ref.tag_scores(clip, x, fg, bg))
        cases.append({"name": name, "width": w, "height": h, "classes": ids,
                      "grid": [x.shape[2] // 16, x.shape[3] // 16]})
    # CLIP's own image embedding (class token) at the pretrained resolution.
    res = clip.visual.input_resolution
    Image.fromarray(synthetic_image(rng, res, res)).save(os.path.join(out, "native.png"))
    xn, _ = ref.clip_es_input(os.path.join(out, "native.png"))
    with torch.no_grad():
        save3(os.path.join(out, "native_embedding.npy"), clip.encode_image(xn)[0].numpy())
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"cases": cases, "prompts": fg_texts + bg_texts, "num_foreground": len(fg_texts),
                   "box_threshold": table["box_threshold"], "logit_scale": float(clip.logit_scale.exp()),
                   "config": {"vision_width": 128, "vision_layers": 10, "patch": 16, "grid": 7,
                              "text_width": 128, "text_layers": 3, "embed_dim": 96}}, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
