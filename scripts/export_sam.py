#!/usr/bin/env python3
"""Export a Segment-Anything-family checkpoint to the TorchScript file wsss-sam reads.

Runs where Python, PyTorch and the model's own package are installed (not needed
by wsss itself):

  # SAM (pip install segment-anything; checkpoints sam_vit_{b,l,h}_*.pth)
  python3 scripts/export_sam.py --family sam --type vit_h --checkpoint sam_vit_h_4b8939.pth --out sam_vit_h.pt
  # MobileSAM (pip install git+https://github.com/ChaoningZhang/MobileSAM; mobile_sam.pt)
  python3 scripts/export_sam.py --family mobile_sam --checkpoint mobile_sam.pt --out mobile_sam_ts.pt
  # EfficientSAM (the yformer/EfficientSAM repository on PYTHONPATH; efficient_sam_vit{t,s}.pt)
  python3 scripts/export_sam.py --family efficient_sam --type vitt --checkpoint efficient_sam_vitt.pt --out esam_t.pt

The file holds one scripted module with the interface of docs/sam.md:

  embed(image: Tensor[1,3,S,S]) -> Tensor                 the image encoder on the model input
  decode(embeddings, boxes[N,4] | [0,4], points[N,P,2], point_labels[N,P] int32, multimask: bool)
      -> (low_res_logits[N,M,256,256], iou[N,M])           M = 1, or 3 with multimask
  attributes sam_interface = 1, image_size = S (1024), input_frame = "pad" | "stretch"

Boxes and points are already in the model's input frame (wsss-sam transforms
them, as SamPredictor does with ResizeLongestSide), so decode is what SAM's
predict_torch does after that: the prompt encoder (points, then a padding point
when there is no box, then the two box corners) and the mask decoder, with the
mask slice of multimask_output. The image encoder is traced (its input shape is
fixed); the decoder is traced on a point/label sequence in the form of SAM's own
ONNX export (labels -1 padding, 0/1 points, 2/3 box corners), which covers every
prompt shape with one graph; the glue between is scripted.

After saving, --check (on by default) compares the exported file with the
original model's predictor on a random image and several prompt shapes and
prints the largest logit difference and the mask agreement.
"""
import argparse
import sys
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class SamDecoderCore(nn.Module):
    """SAM's prompt encoder on a point/label sequence, then the mask decoder (all M+1 masks)."""

    def __init__(self, sam):
        super().__init__()
        self.prompt_encoder = sam.prompt_encoder
        self.mask_decoder = sam.mask_decoder
        self.input_size = sam.prompt_encoder.input_image_size  # (H, W) of the padded input

    def forward(self, embeddings, coords, labels):
        pe_enc = self.prompt_encoder
        coords = coords + 0.5  # pixel centres, as PromptEncoder._embed_points/_embed_boxes
        coords = torch.stack([coords[..., 0] / self.input_size[1], coords[..., 1] / self.input_size[0]], -1)
        point_embedding = pe_enc.pe_layer._pe_encoding(coords.to(torch.float))
        lab = labels.unsqueeze(-1)
        point_embedding = point_embedding * (lab != -1)
        point_embedding = point_embedding + pe_enc.not_a_point_embed.weight * (lab == -1)
        for i in range(pe_enc.num_point_embeddings):
            point_embedding = point_embedding + pe_enc.point_embeddings[i].weight * (lab == i)
        n = coords.shape[0]
        h, w = pe_enc.image_embedding_size
        dense = pe_enc.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(n, -1, h, w)
        out = self.mask_decoder.predict_masks(
            image_embeddings=embeddings,
            image_pe=pe_enc.get_dense_pe(),
            sparse_prompt_embeddings=point_embedding,
            dense_prompt_embeddings=dense,
        )
        return out[0], out[1]


class SamScript(nn.Module):
    """SAM and MobileSAM (segment_anything's SamPredictor numerics: input_frame "pad")."""

    sam_interface: int
    image_size: int
    input_frame: str

    def __init__(self, encoder, decoder, image_size: int):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.sam_interface = 1
        self.image_size = image_size
        self.input_frame = "pad"

    @torch.jit.export
    def embed(self, image: torch.Tensor) -> torch.Tensor:
        return self.encoder(image)

    @torch.jit.export
    def decode(self, embeddings: torch.Tensor, boxes: torch.Tensor, points: torch.Tensor,
               point_labels: torch.Tensor, multimask: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        n = points.shape[0]
        dev = embeddings.device
        coords = points.to(dev, torch.float)
        labels = point_labels.to(dev, torch.float)
        if boxes.shape[0] > 0:
            corners = boxes.to(dev, torch.float).reshape(n, 2, 2)
            coords = torch.cat([coords, corners], 1)
            labels = torch.cat([labels, torch.tensor([2.0, 3.0], device=dev).expand(n, 2)], 1)
        else:  # PromptEncoder pads points without a box with a "not a point" token
            coords = torch.cat([coords, torch.zeros(n, 1, 2, device=dev)], 1)
            labels = torch.cat([labels, -torch.ones(n, 1, device=dev)], 1)
        masks, iou = self.decoder(embeddings, coords, labels)
        if multimask:
            return masks[:, 1:], iou[:, 1:]
        return masks[:, 0:1], iou[:, 0:1]


class EfficientSamScript(nn.Module):
    """EfficientSAM's own pipeline (input_frame "stretch"): boxes are points labelled 2 and 3."""

    sam_interface: int
    image_size: int
    input_frame: str

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.sam_interface = 1
        self.image_size = int(model.image_encoder.img_size)
        self.input_frame = "stretch"

    @torch.jit.export
    def embed(self, image: torch.Tensor) -> torch.Tensor:
        return self.model.image_encoder(image)  # wsss-sam already resized and normalised it

    @torch.jit.export
    def decode(self, embeddings: torch.Tensor, boxes: torch.Tensor, points: torch.Tensor,
               point_labels: torch.Tensor, multimask: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        n = points.shape[0]
        dev = embeddings.device
        coords = points.to(dev, torch.float)
        labels = point_labels.to(dev, torch.float)
        if boxes.shape[0] > 0:
            coords = torch.cat([coords, boxes.to(dev, torch.float).reshape(n, 2, 2)], 1)
            labels = torch.cat([labels, torch.tensor([2.0, 3.0], device=dev).expand(n, 2)], 1)
        # Coordinates are in the S x S frame already: input_h = input_w = S scales by 1.
        masks, iou = self.model.predict_masks(embeddings, coords.unsqueeze(0), labels.unsqueeze(0), multimask,
                                              self.image_size, self.image_size, -1, -1)
        return masks[0], iou[0]


def load_model(args):
    if args.family in ("sam", "mobile_sam"):
        if args.family == "sam":
            from segment_anything import sam_model_registry
        else:
            from mobile_sam import sam_model_registry
        sam = sam_model_registry[args.type or ("vit_t" if args.family == "mobile_sam" else "vit_h")](
            checkpoint=args.checkpoint)
        return sam.eval()
    from efficient_sam.build_efficient_sam import build_efficient_sam_vits, build_efficient_sam_vitt
    build = {"vitt": build_efficient_sam_vitt, "vits": build_efficient_sam_vits}[args.type or "vitt"]
    model = build()
    state = torch.load(args.checkpoint, map_location="cpu")
    model.load_state_dict(state["model"] if "model" in state else state)
    return model.eval()


def export(model, family):
    with torch.no_grad():
        if family == "efficient_sam":
            return torch.jit.script(EfficientSamScript(model))
        s = int(model.image_encoder.img_size)
        encoder = torch.jit.trace(model.image_encoder, torch.zeros(1, 3, s, s))
        emb = model.image_encoder(torch.zeros(1, 3, s, s))
        coords = torch.tensor([[[100.0, 120.0], [300.0, 340.0], [0.0, 0.0]],
                               [[500.0, 20.0], [600.0, 700.0], [0.0, 0.0]]])
        labels = torch.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, -1.0]])
        decoder = torch.jit.trace(SamDecoderCore(model), (emb, coords, labels), check_trace=False)
        return torch.jit.script(SamScript(encoder, decoder, s))


# ---- the check: the exported file through wsss-sam's numerics vs the original predictor ----

def predictor_masks(model, family, image, box, points, labels, multimask):
    if family == "efficient_sam":
        x = torch.from_numpy(image.transpose(2, 0, 1)).float().div(255)[None]
        pts, lab = [], []
        if points is not None:
            pts += points.tolist()
            lab += labels.tolist()
        if box is not None:
            pts += [box[:2].tolist(), box[2:].tolist()]
            lab += [2, 3]
        h, w = image.shape[:2]
        emb = model.get_image_embeddings(x)  # EfficientSAM's own preprocessing and rescaling
        logits, iou = model.predict_masks(emb, torch.tensor([[pts]], dtype=torch.float),
                                          torch.tensor([[lab]], dtype=torch.float), multimask, h, w, h, w)
        logits, iou = logits[0, 0], iou[0, 0]
        best = int(torch.argmax(iou)) if multimask else 0
        return logits[best], float(iou[best])
    if family == "sam":
        from segment_anything import SamPredictor
    else:
        from mobile_sam import SamPredictor
    p = SamPredictor(model)
    p.set_image(image)
    masks, iou, _ = p.predict(point_coords=points, point_labels=labels, box=box, multimask_output=multimask,
                              return_logits=True)
    best = int(np.argmax(iou)) if multimask else 0
    return torch.from_numpy(masks[best]), float(iou[best])


def exported_masks(ts, image, box, points, labels, multimask):
    """wsss-sam's numerics (lib/src/models/sam.cpp) in Python, on the exported module."""
    from PIL import Image
    h, w = image.shape[:2]
    s = ts.image_size
    if ts.input_frame == "pad":
        scale = s * 1.0 / max(h, w)
        nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
        x = torch.as_tensor(np.array(Image.fromarray(image).resize((nw, nh), Image.BILINEAR))).permute(2, 0, 1)[None]
        x = (x - torch.Tensor([123.675, 116.28, 103.53]).view(-1, 1, 1)) / torch.Tensor([58.395, 57.12, 57.375]).view(-1, 1, 1)
        x = F.pad(x, (0, s - nw, 0, s - nh))
        fx, fy = nw / w, nh / h
    else:
        x = torch.from_numpy(image.transpose(2, 0, 1)).float().div(255)[None]
        x = F.interpolate(x, (s, s), mode="bilinear")
        x = (x - torch.Tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.Tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        fx, fy = s / w, s / h
    emb = ts.embed(x)
    scale = np.array([fx, fy])
    boxes = torch.tensor((box.reshape(2, 2) * scale).reshape(1, 4), dtype=torch.float) if box is not None \
        else torch.zeros(0, 4)
    pts = torch.tensor((points * scale)[None], dtype=torch.float) if points is not None else torch.zeros(1, 0, 2)
    lab = torch.tensor(labels[None], dtype=torch.int) if labels is not None else torch.zeros(1, 0, dtype=torch.int)
    masks, iou = ts.decode(emb, boxes, pts, lab, multimask)
    best = int(torch.argmax(iou[0])) if multimask else 0
    low = masks[:, best:best + 1]
    if ts.input_frame == "pad":
        m = F.interpolate(low, (s, s), mode="bilinear", align_corners=False)[..., :nh, :nw]
        m = F.interpolate(m, (h, w), mode="bilinear", align_corners=False)
    else:
        m = F.interpolate(low, (h, w), mode="bicubic")
    return m[0, 0], float(iou[0, best])


def check(model, family, file):
    ts = torch.jit.load(file)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(375, 500, 3), dtype=np.uint8)
    cases = [
        (np.array([50.0, 60.0, 300.0, 280.0]), None, None, False),
        (None, np.array([[120.0, 200.0]]), np.array([1]), False),
        (None, np.array([[120.0, 200.0], [400.0, 50.0], [30.0, 300.0]]), np.array([1, 0, 1]), True),
        (np.array([10.0, 20.0, 480.0, 360.0]), np.array([[200.0, 150.0]]), np.array([0]), False),
    ]
    worst = 0.0
    with torch.no_grad():
        for box, points, labels, multi in cases:
            a, ia = predictor_masks(model, family, image, box, points, labels, multi)
            b, ib = exported_masks(ts, image, box, points, labels, multi)
            thr = (lambda t: t > 0) if ts.input_frame == "pad" else (lambda t: t >= 0)
            agree = float((thr(a) == thr(b)).float().mean())
            diff = float((a - b).abs().max())
            worst = max(worst, diff)
            print(f"check: box={box is not None} points={0 if points is None else len(points)} multimask={multi}: "
                  f"max |logit diff| {diff:.2e}, iou {ia:.4f} vs {ib:.4f}, mask agreement {agree:.6f}")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", required=True, choices=["sam", "mobile_sam", "efficient_sam"])
    ap.add_argument("--type", help="sam: vit_b, vit_l, vit_h (default); mobile_sam: vit_t; efficient_sam: vitt, vits")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--no-check", action="store_true", help="skip comparing the export with the original model")
    args = ap.parse_args()
    model = load_model(args)
    exported = export(model, args.family)
    exported.save(args.out)
    print(f"wrote {args.out} (input_frame {exported.input_frame}, image_size {exported.image_size})")
    if not args.no_check:
        worst = check(model, args.family, args.out)
        if worst > 1e-2:
            sys.exit(f"export_sam.py: the export differs from the original model (max |logit diff| {worst:.3g})")


if __name__ == "__main__":
    main()
