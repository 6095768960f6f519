#!/usr/bin/python3
"""CLIP-ES per image in PyTorch, for bench/clip_es.sh: the computation of
tests/python/clip_reference.py (the reference's code path: the last block rerun
per class, GradCAM through hooks on ln_1, numpy maps) on the same model file and
image as wsss_bench_clip.

  clip_es_torch.py save MODEL_OUT            a random ViT-B/16-sized CLIP, saved like OpenAI's
  clip_es_torch.py maps MODEL IMAGE REPEAT THREADS CLASSES
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
import clip_reference as ref  # noqa: E402


def save(path):
    # ViT-B/16: vision 768 wide, 12 layers, 12 heads, patch 16 at 224 (grid 14);
    # text 512 wide, 12 layers, 8 heads; embedding 512.
    model = ref.make_model(seed=0, width=768, layers=12, patch=16, resolution=224, text_width=512,
                           text_layers=12, embed_dim=512)
    ref.save_like_openai(model, path)


def maps(model_path, image_path, repeat, threads, classes):
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # as the C++ side (models::set_torch_threads)
    t0 = time.perf_counter()
    model = ref.load_like_clip(model_path)
    print("pytorch: model loaded in %.2fs (torch %s)" % (time.perf_counter() - t0, torch.__version__))
    torch.manual_seed(0)
    e = model.text_projection.shape[1]
    fg = torch.randn(20, e)
    fg /= fg.norm(dim=1, keepdim=True)
    bg = torch.randn(25, e)
    bg /= bg.norm(dim=1, keepdim=True)
    ids = [c - 1 for c in classes]
    times, cpu = [], []
    for r in range(repeat + 1):  # run 0 warms up
        t0, c0 = time.perf_counter(), time.process_time()
        x, (h, w) = ref.clip_es_input(image_path)
        out = ref.clip_es(model, x, fg, bg, ids)
        refined = ref.refined_at(out["refined_grid"], h, w)
        t, c = 1000 * (time.perf_counter() - t0), 1000 * (time.process_time() - c0)
        print("pytorch run %d: %.1f ms wall, %.1f ms cpu%s (refined %s)"
              % (r, t, c, " (warm-up)" if r == 0 else "", "x".join(map(str, refined.shape))))
        if r > 0:
            times.append(t)
            cpu.append(c)
    times.sort()
    cpu.sort()
    print("pytorch median %.1f ms wall, %.1f ms cpu over %d runs (wall min %.1f, max %.1f), %d thread(s)"
          % (times[len(times) // 2], cpu[len(cpu) // 2], repeat, times[0], times[-1], threads))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "save":
        save(sys.argv[2])
    elif len(sys.argv) == 7 and sys.argv[1] == "maps":
        maps(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), [int(c) for c in sys.argv[6].split(",")])
    else:
        sys.exit(__doc__)
