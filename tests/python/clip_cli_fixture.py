#!/usr/bin/python3
"""A small random CLIP saved like OpenAI's files (clip_reference.py) for the
wsss-clip-es CLI test, plus a TorchScript module that is not CLIP.

  /usr/bin/python3 tests/python/clip_cli_fixture.py OUT_DIR
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_reference as ref  # noqa: E402


class NotClip(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    # Smaller than the agreement fixture: 6 image blocks, 2 text blocks.
    ref.save_like_openai(ref.make_model(seed=5, layers=6, text_layers=2), os.path.join(out, "model.pt"))
    torch.jit.script(NotClip()).save(os.path.join(out, "not_clip.pt"))
