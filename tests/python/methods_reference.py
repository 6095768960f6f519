#!/usr/bin/python3
"""Independent PyTorch references of ReCAM and LPCAM, written from the
reference repositories' code (zhaozhengChen/ReCAM net/resnet50_cam.py,
step/make_recam.py; zhaozhengChen/LPCAM step/make_lpcam.py with
kmeans_pytorch), for the agreement test tests/python/run_methods_agreement.sh.

  methods_reference.py make DIR          seeded torchvision ResNet-50 (strides 2,2,2,1),
                                         classifier and ReCAM predictor saved as wsss
                                         models, test images, one training batch and the
                                         reference ReCAM loss of that batch
  methods_reference.py recam DIR         wsss-cam --recam (scale 1 + flip) vs the reference
  methods_reference.py lpcam DIR         wsss-lpcam cluster (same initial centres) and
                                         wsss-cam --lpcam (scale 1; four scales) vs the reference
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pth_to_safetensors import save_safetensors  # noqa: E402
# IRN's make_cam in PyTorch (wsss-cam's own agreement test): ReCAM's make_recam.py is
# make_cam with the weight W_rec * W_cls (CAM.forward2).
from cam_reference import build_model as cam_build_model, features, irn_cam, pil_rescale  # noqa: E402

CLASSES = ["background", "ball", "box", "kite", "star", "ring", "train"]
K = len(CLASSES) - 1
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
# (H, W) and labels: every class in several images, odd sizes for the rounding of scaled sizes
IMAGES = {"a": ((90, 118), [1, 3, 5]), "c": ((111, 96), [1, 2, 4]), "d": ((84, 130), [3, 4, 6]),
          "f": ((100, 100), [2, 3, 6])}
SPEC = {"arch": "resnet50", "base_width": 64, "strides": [2, 2, 2, 1], "dilations": [1, 1, 1, 1],
        "dilation_policy": "all_blocks"}
LOSS_WEIGHTS = [1.0]


def build_model():
    """wsss-cam's reference network (seeded torchvision ResNet-50 with IRN's strides and non-trivial
    BatchNorm statistics), its classifier scaled so that softmax(centre . W) is not saturated (the
    features are large), and ReCAM's predictor with PyTorch's default initialisation."""
    net, weight = cam_build_model()
    w_cls = weight * 0.02
    torch.manual_seed(2)
    w_rec = torch.nn.Conv2d(2048, K, 1, bias=False).weight.detach().clone()  # Class_Predictor's layer
    return net, w_cls, w_rec


def normalise(img):
    return torch.from_numpy(((img / 255.0 - MEAN) / STD).astype(np.float32).transpose(2, 0, 1))[None]


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", name
        b, e = info["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(data[b:e], np.float32).reshape(info["shape"]).copy())
    return tensors, meta


# --- ReCAM (net/resnet50_cam.py: Net_CAM_Feature and Class_Predictor) ----------------

def recam_loss(net, w_cls, w_rec, img, label, loss_weight):
    feature = features(net, img)
    x = F.conv2d(feature.mean((2, 3), keepdim=True), w_cls).view(-1, K)
    cams = F.relu(F.conv2d(feature, w_cls))
    cams = cams / (F.adaptive_max_pool2d(cams, (1, 1)) + 1e-5)
    cams_feature = cams.unsqueeze(2) * feature.unsqueeze(1)  # bs x K x 2048 x h x w
    cams_feature = cams_feature.view(cams_feature.size(0), cams_feature.size(1), cams_feature.size(2), -1)
    cams_feature = torch.mean(cams_feature, -1)
    loss_cls = F.multilabel_soft_margin_loss(x, label)
    # Class_Predictor.forward
    batch_size = cams_feature.shape[0]
    xs = cams_feature.reshape(batch_size, K, -1)
    mask = label > 0
    feature_list = [xs[i][mask[i]] for i in range(batch_size)]
    prediction = [F.conv2d(y.unsqueeze(-1).unsqueeze(-1), w_rec).squeeze(-1).squeeze(-1) for y in feature_list]
    labels = [torch.nonzero(label[i]).squeeze(1) for i in range(label.shape[0])]
    loss = 0
    for logit, lab in zip(prediction, labels):
        if lab.shape[0] == 0:
            continue
        loss = loss + F.cross_entropy(logit, lab)
    loss_ce = loss / batch_size
    return {"total": float(loss_cls + loss_weight * loss_ce), "bce": float(loss_cls), "ce": float(loss_ce)}


# --- LPCAM (step/make_lpcam.py, kmeans_pytorch) --------------------------------------

def pairwise_cosine(data1, data2):
    A = data1.unsqueeze(dim=1)
    B = data2.unsqueeze(dim=0)
    A_normalized = A / A.norm(dim=-1, keepdim=True)
    B_normalized = B / B.norm(dim=-1, keepdim=True)
    return 1 - (A_normalized * B_normalized).sum(dim=-1)


def kmeans(X, initial_state, tol, iter_limit):
    """kmeans_pytorch.kmeans(distance='cosine') from given initial centres."""
    initial_state = initial_state.clone()
    iteration = 0
    while True:
        dis = pairwise_cosine(X, initial_state)
        choice_cluster = torch.argmin(dis, dim=1)
        initial_state_pre = initial_state.clone()
        for index in range(initial_state.shape[0]):
            selected = torch.nonzero(choice_cluster == index).squeeze(1)
            selected = torch.index_select(X, 0, selected)
            assert selected.shape[0] > 0, "empty cluster: the reference would take a random point"
            initial_state[index] = selected.mean(dim=0)
        center_shift = torch.sum(torch.sqrt(torch.sum((initial_state - initial_state_pre) ** 2, dim=1)))
        iteration += 1
        if center_shift ** 2 < tol:
            break
        if iter_limit != 0 and iteration >= iter_limit:
            break
    return initial_state, iteration


def lpcam_features(net, img, scales):
    """make_lpcam.py: feature[0] + feature[1].flip(-1) of the image and its flip, per scale."""
    feats = []
    for s in scales:
        im = img if s == 1.0 else pil_rescale(img, s)
        x = normalise(im)
        x = torch.cat([x, x.flip(-1)], 0)
        f = features(net, x)
        feats.append(f[0] + f[1].flip(-1))
    return feats


def lpcam_map(feats, H, W, centres, context):
    strided_up = (int(np.ceil(H / 16)) * 16, int(np.ceil(W / 16)) * 16)
    highres = []
    for feature in feats:
        h, w = feature.shape[1], feature.shape[2]
        feature_here = feature.permute((1, 2, 0)).reshape(h, w, feature.shape[0])
        att_maps = []
        for j in range(centres.shape[0]):
            att_maps.append(F.cosine_similarity(feature_here, centres[j].repeat(h, w, 1), 2)[None, None])
        att_map = torch.mean(torch.cat(att_maps, 0), 0, keepdim=True)
        if context.shape[0] > 0:
            ctx = [F.cosine_similarity(feature_here, context[j].repeat(h, w, 1), 2)[None, None][None]
                   for j in range(context.shape[0])]
            att_map = F.relu(att_map - torch.mean(torch.cat(ctx, 0), 0))
        highres.append(F.interpolate(att_map, strided_up, mode="bilinear", align_corners=False)[:, 0, :H, :W])
    highres = torch.mean(torch.cat(highres, 0), 0)
    return (highres / torch.max(highres)).numpy()


# --- the fixture ----------------------------------------------------------------------

def make(d):
    net, w_cls, w_rec = build_model()
    backbone = {"backbone." + k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    meta = {"wsss.format": "wsss-weights-1", "wsss.backbone": json.dumps(SPEC),
            "wsss.class_names": json.dumps(CLASSES[1:])}
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    save_safetensors({**backbone, "classifier.weight": w_cls}, os.path.join(d, "cls.safetensors"),
                     {**meta, "wsss.model": "cam-classifier"})
    save_safetensors({**backbone, "classifier.weight": w_cls, "predictor.weight": w_rec},
                     os.path.join(d, "recam.safetensors"), {**meta, "wsss.model": "recam-classifier"})
    rng = np.random.default_rng(3)
    lines = []
    for name, ((h, w), labels) in IMAGES.items():
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) % 64) * 4], -1).astype(np.float64)
        # a bright disc per label: regions the random classifier scores differently
        for c in labels:
            cy, cx, r = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w, rng.uniform(0.15, 0.3) * min(h, w)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = [40 * c % 256, 255 - 30 * c, 60 + 25 * c]
        img += rng.normal(0, 20, img.shape)
        img = np.clip(img, 0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(d, "data", name + ".png"))
        lines.append(json.dumps({"id": name, "image": name + ".png", "labels": labels}))
    with open(os.path.join(d, "data", "manifest.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(d, "data", "classes.json"), "w") as f:
        json.dump({"format": "wsss-classes", "version": 1, "name": "synth", "classes": CLASSES,
                   "ignore": 255, "palette": "voc"}, f)
    # One training batch (a crop-sized random image per row; the third has no class).
    g = torch.Generator().manual_seed(5)
    batch = torch.randn(3, 3, 64, 80, generator=g)
    label = torch.tensor([[1, 0, 1, 0, 0, 1], [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=torch.float32)
    np.save(os.path.join(d, "batch.npy"), batch.numpy().reshape(9, 64, 80))
    with torch.no_grad():
        losses = {str(lw): recam_loss(net, w_cls, w_rec, batch, label, lw) for lw in LOSS_WEIGHTS}
    with open(os.path.join(d, "batch.json"), "w") as f:
        json.dump({"targets": label.tolist(), "losses": losses}, f)


def check_recam(d):
    net, w_cls, w_rec = build_model()
    ok = True
    with torch.no_grad():
        for name, ((h, w), labels) in IMAGES.items():
            img = np.asarray(Image.open(os.path.join(d, "data", name + ".png")))
            ref = irn_cam(net, w_rec * w_cls, img, [1.0], [c - 1 for c in labels])
            got = np.load(os.path.join(d, "recam1", "cam", name + ".npy"))
            diff = float(np.abs(ref - got).max()) if ref.shape == got.shape else float("inf")
            print(f"ReCAM {name}: shape {got.shape}; scale 1 + flip max |diff| {diff:.2e} (bound 1e-4)")
            ok = ok and diff <= 1e-4
    return ok


def check_lpcam(d):
    net, w_cls, _ = build_model()
    w = w_cls.squeeze()
    protos, meta = read_safetensors(os.path.join(d, "proto", "prototypes.safetensors"))
    settings = json.loads(meta["lpcam.settings"])
    stats = json.loads(meta["lpcam.classes"])
    thr = settings["cam_threshold"]
    ok = True
    selected_total = [0, 0]
    with torch.no_grad():
        feats = {}
        for name in IMAGES:
            img = np.asarray(Image.open(os.path.join(d, "data", name + ".png")))
            feats[name] = features(net, normalise(img))[0]        # save_feature: scale 1, no flip
        worst = 0.0
        for class_id in range(K):
            fg, bg = [], []
            for name, (_, labels) in IMAGES.items():             # the images carrying the class, in order
                if class_id + 1 not in labels:
                    continue
                cam = np.load(os.path.join(d, "cam", "cam", name + ".npy"))  # wsss-cam's high_res
                keys = [c - 1 for c in labels]
                feature_map = feats[name].permute(1, 2, 0)
                mask = F.interpolate(torch.tensor(cam).unsqueeze(0), feature_map.shape[:2])[0]
                mask = mask[keys.index(class_id)]
                fg.append(feature_map[mask > thr])
                bg.append(feature_map[mask < thr])
            for set_name, X, key, keep in (
                    ("class", torch.cat(fg, 0), "class_set",
                     lambda p: p[:, class_id] > settings["class_prob"]),
                    ("context", torch.cat(bg, 0), "context_set",
                     lambda p: (p[:, class_id] > settings["context_prob"][0]) *
                               (p[:, class_id] < settings["context_prob"][1]))):
                s = stats[class_id][key]
                assert s["points"] == X.shape[0] == s["clustered"], (set_name, class_id, s["points"], X.shape)
                centres, iterations = kmeans(X, X[s["initial_rows"]], settings["tol"], settings["max_iter"])
                prob = F.softmax(torch.mm(centres, w.T), dim=1)
                ref = centres[keep(prob)]
                got = protos[f"{set_name}.{class_id + 1}"]
                if ref.shape != got.shape:
                    print(f"LPCAM {set_name} prototypes of class {class_id + 1}: {tuple(got.shape)} here, "
                          f"{tuple(ref.shape)} in the reference (probabilities {prob[:, class_id].tolist()})")
                    ok = False
                    continue
                diff = float((ref - got).abs().max()) if ref.numel() else 0.0
                scale = max(1.0, float(ref.abs().max())) if ref.numel() else 1.0
                worst = max(worst, diff / scale)
                selected_total[0 if set_name == "class" else 1] += ref.shape[0]
                if iterations != s["iterations"]:
                    print(f"LPCAM {set_name} set of class {class_id + 1}: {s['iterations']} iterations here, "
                          f"{iterations} in the reference")
                    ok = False
        print(f"LPCAM prototypes: {selected_total[0]} class and {selected_total[1]} context prototypes; "
              f"max |diff| / max(1, max |ref|) {worst:.2e} (bound 1e-4)")
        ok = ok and worst <= 1e-4 and selected_total[0] > 0 and selected_total[1] > 0
        zero_classes = 0
        for name, ((H, W), labels) in IMAGES.items():
            img = np.asarray(Image.open(os.path.join(d, "data", name + ".png")))
            feats = lpcam_features(net, img, [1.0, 0.5, 1.5, 2.0])
            refs1, refs4 = [], []
            for c in labels:
                centres, context = protos[f"class.{c}"], protos[f"context.{c}"]
                if centres.shape[0] == 0:   # the reference fails here (torch.cat of nothing); wsss gives zeros
                    zero_classes += 1
                    refs1.append(np.zeros((H, W), np.float32))
                    refs4.append(np.zeros((H, W), np.float32))
                    continue
                refs1.append(lpcam_map(feats[:1], H, W, centres, context))
                refs4.append(lpcam_map(feats, H, W, centres, context))
            ref1, ref4 = np.stack(refs1), np.stack(refs4)
            got1 = np.load(os.path.join(d, "lp1", "cam", name + ".npy"))
            got4 = np.load(os.path.join(d, "lp4", "cam", name + ".npy"))
            diff = float(np.abs(ref1 - got1).max()) if ref1.shape == got1.shape else float("inf")
            if ref4.shape != got4.shape:
                corr = 0.0
            elif not ref4.any() and not got4.any():
                corr = 1.0                  # both all zero: no class of this image has prototypes
            else:
                corr = float(np.corrcoef(ref4.ravel(), got4.ravel())[0, 1])
            print(f"LPCAM {name}: shape {got1.shape}; scale 1 + flip max |diff| {diff:.2e} (bound 1e-4); "
                  f"4 scales (PIL vs OpenCV bicubic) correlation {corr:.5f} (bound 0.99)")
            ok = ok and diff <= 1e-4 and corr >= 0.99
        print(f"LPCAM: {zero_classes} image classes without class prototypes (all-zero maps)")
    return ok


if __name__ == "__main__":
    what, d = sys.argv[1], sys.argv[2]
    if what == "make":
        make(d)
    elif what == "recam":
        sys.exit(0 if check_recam(d) else 1)
    elif what == "lpcam":
        sys.exit(0 if check_lpcam(d) else 1)
    else:
        sys.exit(f"unknown command {what}")
