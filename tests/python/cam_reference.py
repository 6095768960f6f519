#!/usr/bin/python3
"""Reference CAMs computed the way IRN's make_cam does, in PyTorch, for the
agreement test of wsss-cam (tests/cli/test_cam_pytorch.sh).

  cam_reference.py make DIR     seeded torchvision ResNet-50 (strides 2,2,2,1) and
                                a random classifier saved as a wsss CAM classifier,
                                two test images, and the reference maps
  cam_reference.py compare DIR  compares wsss-cam's outputs with the references
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
from pth_to_safetensors import save_safetensors  # noqa: E402

CLASSES = ["background", "ball", "box", "kite", "star", "ring", "train"]
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
IMAGES = {"a": (75, 100), "b": (97, 123)}  # (H, W): odd sizes exercise the rounding of scaled sizes
LABELS = {"a": [1, 3, 5], "b": [2, 6]}


def build_model():
    torch.manual_seed(0)
    net = torchvision.models.resnet50()
    net.layer4[0].conv2.stride = (1, 1)          # IRN: strides (2,2,2,1), output stride 16
    net.layer4[0].downsample[0].stride = (1, 1)
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):   # non-trivial statistics, as after ImageNet training
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    net.eval()
    weight = torch.randn(len(CLASSES) - 1, 2048, 1, 1, generator=g) * 0.05
    return net, weight


def features(net, x):
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


def pil_rescale(img, scale):
    h, w = img.shape[:2]
    size = (int(np.round(w * scale)), int(np.round(h * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.BICUBIC))


def irn_cam(net, weight, img, scales, keys):
    H, W = img.shape[:2]
    outputs = []
    with torch.no_grad():
        for s in scales:
            im = img if s == 1.0 else pil_rescale(img, s)
            x = torch.from_numpy(((im / 255.0 - MEAN) / STD).astype(np.float32).transpose(2, 0, 1))[None]
            x = torch.cat([x, x.flip(-1)], 0)
            cam = F.relu(F.conv2d(features(net, x), weight))
            outputs.append(cam[0] + cam[1].flip(-1))
        up = (int(np.ceil(H / 16)) * 16, int(np.ceil(W / 16)) * 16)
        high = torch.sum(torch.stack([F.interpolate(o[None], up, mode="bilinear", align_corners=False)[0]
                                      for o in outputs]), 0)[:, :H, :W]
        high = high[keys]
        high /= F.adaptive_max_pool2d(high, (1, 1)) + 1e-5
    return high.numpy()


def make(d):
    net, weight = build_model()
    tensors = {"backbone." + k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    tensors["classifier.weight"] = weight
    spec = {"arch": "resnet50", "base_width": 64, "strides": [2, 2, 2, 1], "dilations": [1, 1, 1, 1],
            "dilation_policy": "all_blocks"}
    meta = {"wsss.format": "wsss-weights-1", "wsss.model": "cam-classifier", "wsss.backbone": json.dumps(spec),
            "wsss.class_names": json.dumps(CLASSES[1:])}
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    save_safetensors(tensors, os.path.join(d, "model.safetensors"), meta)
    rng = np.random.default_rng(3)
    lines = []
    for name, (h, w) in IMAGES.items():
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) % 64) * 4], -1).astype(np.float64)
        img += rng.normal(0, 20, img.shape)          # structure plus noise: all frequencies present
        img = np.clip(img, 0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(d, "data", name + ".png"))
        keys = [c - 1 for c in LABELS[name]]
        np.save(os.path.join(d, "ref1_" + name + ".npy"), irn_cam(net, weight, img, [1.0], keys))
        np.save(os.path.join(d, "ref4_" + name + ".npy"), irn_cam(net, weight, img, [1.0, 0.5, 1.5, 2.0], keys))
        lines.append(json.dumps({"id": name, "image": name + ".png", "labels": LABELS[name]}))
    with open(os.path.join(d, "data", "manifest.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(d, "data", "classes.json"), "w") as f:
        json.dump({"format": "wsss-classes", "version": 1, "name": "synth", "classes": CLASSES,
                   "ignore": 255, "palette": "voc"}, f)


def compare(d):
    ok = True
    for name in IMAGES:
        ref1 = np.load(os.path.join(d, "ref1_" + name + ".npy"))
        got1 = np.load(os.path.join(d, "cam1", "cam", name + ".npy"))
        diff = float(np.abs(ref1 - got1).max()) if ref1.shape == got1.shape else float("inf")
        ref4 = np.load(os.path.join(d, "ref4_" + name + ".npy"))
        got4 = np.load(os.path.join(d, "cam4", "cam", name + ".npy"))
        corr = float(np.corrcoef(ref4.ravel(), got4.ravel())[0, 1]) if ref4.shape == got4.shape else 0.0
        mdiff4 = float(np.abs(ref4 - got4).max()) if ref4.shape == got4.shape else float("inf")
        print(f"{name}: shape {got1.shape}; scale 1 + flip max |diff| {diff:.2e} (bound 1e-4); "
              f"4 scales (PIL vs OpenCV bicubic) correlation {corr:.5f} (bound 0.99), max |diff| {mdiff4:.3f}")
        ok = ok and diff <= 1e-4 and corr >= 0.99
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        sys.exit(compare(sys.argv[2]))
