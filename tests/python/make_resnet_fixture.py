#!/usr/bin/python3
"""Builds the PyTorch reference for the C++ ResNet agreement test.

For each case: a seeded random torchvision ResNet with random (non-trivial)
BatchNorm statistics, saved as .pth and converted with
scripts/pth_to_safetensors.py; a seeded random input; and the eval-mode outputs
of the five stages (stem, layer1..layer4) as .npy. Arrays are stored with shape
[N*C, H, W] (the score-map layout our .npy reader accepts); fixture.json gives
the real shapes. Also writes torchvision's state_dict names for every depth.

  /usr/bin/python3 tests/python/make_resnet_fixture.py OUT_DIR
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch
import torchvision

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts")
sys.path.insert(0, SCRIPTS)
from pth_to_safetensors import load_state_dict, save_safetensors  # noqa: E402

ARCHS = {"resnet18": torchvision.models.resnet18, "resnet34": torchvision.models.resnet34,
         "resnet50": torchvision.models.resnet50, "resnet101": torchvision.models.resnet101}


def randomise_batchnorm(model, gen):
    # Fresh BN (mean 0, var 1, weight 1, bias 0) would hide a swapped or ignored buffer.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=gen) + 0.5
            m.bias.data = torch.randn(n, generator=gen) * 0.1
            m.running_mean.data = torch.randn(n, generator=gen) * 0.1
            m.running_var.data = torch.rand(n, generator=gen) + 0.5
            m.num_batches_tracked.data = torch.tensor(int(torch.randint(1, 1000, (1,), generator=gen)))


def set_stride(module_conv, stride):
    module_conv.stride = (stride, stride)


def irn_strides(model):
    # IRN: strides (2,2,2,1): layer4 keeps stride 1 (torchvision v1.5 puts it on the 3x3 conv).
    block = model.layer4[0]
    set_stride(block.conv2 if hasattr(block, "conv3") else block.conv1, 1)
    set_stride(block.downsample[0], 1)


def deeplab_all_blocks(model):
    # DeepLab-v2: layer3/layer4 without stride, every 3x3 conv dilated by 2 / 4.
    for layer, d in ((model.layer3, 2), (model.layer4, 4)):
        block = layer[0]
        set_stride(block.conv2 if hasattr(block, "conv3") else block.conv1, 1)
        set_stride(block.downsample[0], 1)
        for block in layer:
            for conv in (block.conv1, block.conv2) if not hasattr(block, "conv3") else (block.conv2,):
                conv.dilation = (d, d)
                conv.padding = (d, d)


def stages(model, x):
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    out = [x]
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = layer(x)
        out.append(x)
    return out


def save_npy(path, t):
    a = t.detach().numpy().astype(np.float32)
    np.save(path, a.reshape(a.shape[0] * a.shape[1], a.shape[2], a.shape[3]))


def make_case(out, name, arch, seed, input_shape, spec, modify=None, prefix="", tv_kwargs=None):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    model = ARCHS[arch](weights=None, **(tv_kwargs or {}))
    randomise_batchnorm(model, gen)
    if modify:
        modify(model)
    model.eval()
    pth = os.path.join(out, name + ".pth")
    torch.save(model.state_dict(), pth)
    weights = name + ".safetensors"
    if prefix:
        # Through the command line, as a user would convert torchvision's download.
        subprocess.run([sys.executable, os.path.join(SCRIPTS, "pth_to_safetensors.py"), pth,
                        os.path.join(out, weights), "--prefix", prefix, "--arch", arch], check=True)
    else:
        save_safetensors(load_state_dict(pth), os.path.join(out, weights))
    os.remove(pth)
    x = torch.randn(*input_shape, generator=gen)
    with torch.no_grad():
        feats = stages(model, x)
    save_npy(os.path.join(out, name + ".input.npy"), x)
    outputs = []
    for i, f in enumerate(feats):
        fn = "%s.stage%d.npy" % (name, i)
        save_npy(os.path.join(out, fn), f)
        outputs.append({"file": fn, "shape": list(f.shape)})
    return {"name": name, "weights": weights, "prefix": prefix, "spec": spec,
            "input": name + ".input.npy", "input_shape": list(input_shape), "outputs": outputs}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    irn = {"strides": [2, 2, 2, 1], "dilations": [1, 1, 1, 1]}
    cases = [
        make_case(out, "r50_irn", "resnet50", 1, (2, 3, 64, 80), dict(arch="resnet50", **irn), irn_strides),
        make_case(out, "r18_irn", "resnet18", 2, (1, 3, 67, 53), dict(arch="resnet18", **irn), irn_strides,
                  prefix="backbone."),
        make_case(out, "r18_deeplab", "resnet18", 3, (1, 3, 57, 64),
                  {"arch": "resnet18", "strides": [2, 2, 1, 1], "dilations": [1, 1, 2, 4],
                   "dilation_policy": "all_blocks"}, deeplab_all_blocks),
        make_case(out, "r50_tv_dilated", "resnet50", 4, (1, 3, 48, 61),
                  {"arch": "resnet50", "strides": [2, 2, 1, 1], "dilations": [1, 1, 2, 4],
                   "dilation_policy": "torchvision"},
                  tv_kwargs={"replace_stride_with_dilation": [False, True, True]}),
    ]
    names = {}
    for arch, ctor in ARCHS.items():
        names[arch] = [k for k in ctor(weights=None).state_dict().keys() if not k.startswith("fc.")]
    with open(os.path.join(out, "fixture.json"), "w") as f:
        json.dump({"cases": cases, "state_dict_names": names}, f, indent=1)
    print("%s: %d cases" % (out, len(cases)), file=sys.stderr)


if __name__ == "__main__":
    main()
