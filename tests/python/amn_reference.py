#!/usr/bin/python3
"""An independent PyTorch reference for AMN (gaviotas/AMN, CVPR'22), written
from the reference repository's code (net/resnet50.py, net/resnet50_amn.py,
step/train_amn.py, step/make_amn_cam.py), for the C++ agreement test
(tests/unit_torch/cam_amn_test.cpp, ctest "python: amn").

It builds a seeded small AMN (the reference's ResNet-50 with FixedBatchNorm at
strides (2,2,2,1), base width 16 instead of 64; Linear(K -> C) label encoder,
Dropout(0.1), ASPP rates 6/12/18/24) with random BatchNorm statistics, saves it
as a wsss weight file, and writes:
  - one training batch (images, label vectors, IR labels at the crop size) and
    the loss of train_amn.py on it (balanced CE, label smoothing 0.4, labels
    resized with PIL NEAREST), in eval mode (dropout off);
  - one image with its IR label and labels, and make_amn_cam's maps at scale 1
    with the flip (high_res [k+1, H, W] and the stride-4 "cam"), in eval mode.

  /usr/bin/python3 tests/python/amn_reference.py OUT_DIR
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from pth_to_safetensors import save_safetensors  # noqa: E402

K = 5          # foreground classes
WIDTH = 16     # base width (the reference: 64)
EPS = 0.4      # train_amn.py's args.eps


# --- net/resnet50.py, with a base width -------------------------------------

class FixedBatchNorm(nn.BatchNorm2d):
    def forward(self, input):
        return F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                            training=False, eps=self.eps)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = FixedBatchNorm(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = FixedBatchNorm(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = FixedBatchNorm(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        return self.relu(out + residual)


class ResNet(nn.Module):
    def __init__(self, layers=(3, 4, 6, 3), strides=(2, 2, 2, 1), width=64):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=strides[0], padding=3, bias=False)
        self.bn1 = FixedBatchNorm(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(width, layers[0], 1)
        self.layer2 = self._make_layer(width * 2, layers[1], strides[1])
        self.layer3 = self._make_layer(width * 4, layers[2], strides[2])
        self.layer4 = self._make_layer(width * 8, layers[3], strides[3])

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, kernel_size=1, stride=stride, bias=False),
                                       FixedBatchNorm(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


# --- net/resnet50_amn.py ----------------------------------------------------

class _ASPP(nn.Module):
    def __init__(self, in_ch, out_ch, rates):
        super().__init__()
        for i, rate in enumerate(rates):
            self.add_module("c{}".format(i), nn.Conv2d(in_ch, out_ch, 3, 1, padding=rate, dilation=rate, bias=True))
        for m in self.children():
            nn.init.normal_(m.weight, mean=0, std=0.01)
            nn.init.constant_(m.bias, 0)

    def forward(self, x):
        return sum([stage(x) for stage in self.children()])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.resnet50 = ResNet(width=WIDTH)
        self.stage1 = nn.Sequential(self.resnet50.conv1, self.resnet50.bn1, self.resnet50.relu,
                                    self.resnet50.maxpool, self.resnet50.layer1)
        self.stage2 = nn.Sequential(self.resnet50.layer2)
        self.stage3 = nn.Sequential(self.resnet50.layer3)
        self.stage4 = nn.Sequential(self.resnet50.layer4)
        self.label_enc = nn.Linear(K, WIDTH * 32)
        self.classifier = nn.Sequential(nn.Dropout(0.1), _ASPP(in_ch=WIDTH * 32, out_ch=K + 1, rates=[6, 12, 18, 24]))

    def forward(self, img, label_cls):
        y = self.label_enc(label_cls).unsqueeze(-1).unsqueeze(-1)
        x = self.stage4(self.stage3(self.stage2(self.stage1(img))))
        return self.classifier(x * y)

    def cam(self, x, y):  # resnet50_amn.CAM.forward
        logit = self.forward(x, y)
        return (logit[0] + logit[1].flip(-1)) / 2


# --- step/train_amn.py ------------------------------------------------------

def balanced_cross_entropy(logits, labels, one_hot_labels):
    log_logits = F.log_softmax(logits, dim=1)
    loss_structure = -torch.sum(log_logits * one_hot_labels, dim=1)
    ignore_mask_bg = torch.zeros_like(labels)
    ignore_mask_fg = torch.zeros_like(labels)
    ignore_mask_bg[labels == 0] = 1
    ignore_mask_fg[(labels != 0) & (labels != 255)] = 1
    loss_bg = (loss_structure * ignore_mask_bg).sum() / ignore_mask_bg.sum()
    loss_fg = (loss_structure * ignore_mask_fg).sum() / ignore_mask_fg.sum()
    return (loss_bg + loss_fg) / 2


def resize_labels(labels, size):
    new_labels = []
    for label in labels:
        label = label.float().numpy()
        label = Image.fromarray(label).resize(size, resample=Image.NEAREST)
        new_labels.append(np.asarray(label))
    return torch.LongTensor(np.array(new_labels))


def amn_loss(model, img, label_cls, label_amn):
    logit = model(img, label_cls)
    B, C, H, W = logit.shape
    label_amn = resize_labels(label_amn, size=logit.shape[-2:])  # (H, W) as the reference passes it: square here
    label_ = label_amn.clone()
    label_[label_amn == 255] = 0
    given_labels = torch.full(size=(B, C, H, W), fill_value=EPS / (C - 1))
    given_labels.scatter_(dim=1, index=torch.unsqueeze(label_, dim=1), value=1 - EPS)
    return balanced_cross_entropy(logit, label_amn, given_labels)


# --- step/make_amn_cam.py at one scale (1.0) with the flip ------------------

def normalize(img):  # voc12.dataloader.TorchvisionNormalize
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    imgarr = np.asarray(img)
    proc = np.empty_like(imgarr, np.float32)
    for c in range(3):
        proc[..., c] = (imgarr[..., c] / 255. - mean[c]) / std[c]
    return proc


def make_amn_cam(model, img, label, label_amn):
    size = img.shape[:2]
    s_img = normalize(img).transpose(2, 0, 1)
    x = torch.from_numpy(np.stack([s_img, np.flip(s_img, -1)], axis=0).copy())
    strided_size = ((size[0] - 1) // 4 + 1, (size[1] - 1) // 4 + 1)
    label_pil = Image.fromarray(label_amn)
    label_amn_down = np.array(label_pil.resize((strided_size[1], strided_size[0]), resample=Image.NEAREST))
    label_amn_up = np.array(label_pil.resize((size[1], size[0]), resample=Image.NEAREST))
    outputs = [model.cam(x, label.unsqueeze(0).expand((x.size(0), K)))]
    strided_cam = torch.sum(torch.stack(
        [F.interpolate(torch.unsqueeze(o, 0), strided_size, mode='bilinear', align_corners=False)[0]
         for o in outputs]), 0) / len(outputs)
    highres_cam = [F.interpolate(torch.unsqueeze(o, 1), size, mode='bilinear', align_corners=False) for o in outputs]
    highres_cam = torch.sum(torch.stack(highres_cam, 0), 0)[:, 0, :size[0], :size[1]] / len(outputs)
    valid_cat = torch.nonzero(label)[:, 0]
    keys = np.pad(valid_cat + 1, (1, 0), mode='constant')
    strided_cam = F.softmax(strided_cam, dim=0)[keys].numpy()
    highres_cam = F.softmax(highres_cam, dim=0)[keys].numpy()

    def minmax(c):
        return (c - np.min(c, (1, 2), keepdims=True)) / (
            np.max(c, (1, 2), keepdims=True) - np.min(c, (1, 2), keepdims=True) + 1e-5)

    strided_norm, highres_norm = minmax(strided_cam), minmax(highres_cam)
    strided_bg = np.broadcast_to(label_amn_down == 0, strided_cam.shape)
    highres_bg = np.broadcast_to(label_amn_up == 0, highres_cam.shape)
    strided_cam[~strided_bg] = strided_norm[~strided_bg]
    highres_cam[~highres_bg] = highres_norm[~highres_bg]
    return highres_cam, strided_cam, keys


# --- the fixture ------------------------------------------------------------

def randomise(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=gen) + 0.5
            m.bias.data = torch.randn(n, generator=gen) * 0.1
            m.running_mean.data = torch.randn(n, generator=gen) * 0.1
            m.running_var.data = torch.rand(n, generator=gen) + 0.5
    # The ASPP's N(0, 0.01) start gives logits near 0; larger weights make the
    # maps informative and the test sharper.
    for name, p in model.named_parameters():
        if name.startswith("classifier."):
            p.data = torch.randn(p.shape, generator=gen) * (0.05 if name.endswith("weight") else 0.5)
        if name.startswith("label_enc."):
            p.data = torch.randn(p.shape, generator=gen) * 0.5 + (1.0 if name.endswith("bias") else 0.0)


def blob_labels(h, w, gen, classes):
    """IR labels: background, a rectangle per class, an unsure border around each."""
    lab = np.zeros((h, w), np.uint8)
    for c in classes:
        y0, x0 = int(torch.randint(0, h // 2, (1,), generator=gen)), int(torch.randint(0, w // 2, (1,), generator=gen))
        y1, x1 = y0 + h // 3 + 6, x0 + w // 3 + 6
        lab[max(0, y0 - 3):y1 + 3, max(0, x0 - 3):x1 + 3] = 255
        lab[y0:y1, x0:x1] = c
    return lab


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(13)
    torch.manual_seed(13)
    model = Net()
    randomise(model, gen)
    nn.Module.train(model, False)  # eval mode: the reference's own train() override would leave dropout on

    tensors = {}
    for k, v in model.resnet50.state_dict().items():
        tensors["backbone." + k] = v
    tensors["label_enc.weight"] = model.label_enc.weight
    tensors["label_enc.bias"] = model.label_enc.bias
    for k, v in model.classifier[1].state_dict().items():
        tensors["aspp." + k] = v
    names = ["c%d" % i for i in range(1, K + 1)]
    meta = {"wsss.format": "wsss-weights-1", "wsss.model": "amn",
            "wsss.backbone": json.dumps({"arch": "resnet50", "base_width": WIDTH, "strides": [2, 2, 2, 1],
                                         "dilations": [1, 1, 1, 1], "dilation_policy": "all_blocks"}),
            "wsss.class_names": json.dumps(names),
            "wsss.head": json.dumps({"aspp_rates": [6, 12, 18, 24], "dropout": 0.1})}
    save_safetensors(tensors, os.path.join(out, "model.safetensors"), meta)

    # The loss of one batch: two 96x96 crops (6x6 logits).
    crop = 96
    img = torch.randn((2, 3, crop, crop), generator=gen)
    label_sets = [[1, 3], [2, 5]]
    label_cls = torch.zeros((2, K))
    ir = np.zeros((2, crop, crop), np.uint8)
    for b, ls in enumerate(label_sets):
        label_cls[b, [c - 1 for c in ls]] = 1
        ir[b] = blob_labels(crop, crop, gen, ls)
    with torch.no_grad():
        loss = amn_loss(model, img, label_cls, torch.from_numpy(ir.astype(np.int64)))
    np.save(os.path.join(out, "batch_images.npy"), img.numpy().reshape(2 * 3, crop, crop))
    np.save(os.path.join(out, "batch_labels.npy"), label_cls.numpy().reshape(1, 2, K))
    np.save(os.path.join(out, "batch_ir.npy"), ir.astype(np.float32))

    # One 70x90 image at scale 1 with the flip.
    h, w = 70, 90
    rgb = (torch.rand((h, w, 3), generator=gen) * 255).to(torch.uint8).numpy()
    labels = [2, 4]
    label = torch.zeros(K)
    label[[c - 1 for c in labels]] = 1
    ir_img = blob_labels(h, w, gen, labels)
    Image.fromarray(rgb).save(os.path.join(out, "image.png"))
    Image.fromarray(ir_img).save(os.path.join(out, "ir_label.png"))
    with torch.no_grad():
        high, low, keys = make_amn_cam(model, rgb, label, ir_img)
    np.save(os.path.join(out, "cam_high.npy"), high.astype(np.float32))
    np.save(os.path.join(out, "cam_low.npy"), low.astype(np.float32))
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"loss": float(loss), "batch_label_sets": label_sets, "crop": crop, "smoothing": EPS,
                   "labels": labels, "keys": [int(k) for k in keys], "num_foreground": K}, f)
    print("amn fixture: loss %.6f, maps %s %s" % (float(loss), high.shape, low.shape))


if __name__ == "__main__":
    main()
