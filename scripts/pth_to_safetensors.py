#!/usr/bin/python3
"""Convert a PyTorch .pth state dict (e.g. torchvision's ImageNet ResNet weights)
to a safetensors file that the wsss tools load.

Written by hand because the `safetensors` pip package is not in Debian; the
format is: u64 little-endian header length, JSON header, raw tensor bytes.

  /usr/bin/python3 scripts/pth_to_safetensors.py resnet50-0676ba61.pth resnet50.safetensors --arch resnet50
"""
import argparse
import json
import os
import struct
import sys

import torch

DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
          torch.uint8: "U8", torch.bool: "BOOL"}


def save_safetensors(tensors, path, metadata=None):
    """Writes {name: tensor} (sorted by name) with an optional {str: str} metadata map."""
    assert sys.byteorder == "little", "safetensors data is little-endian"
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes()  # reshape: 0-d tensors cannot be viewed
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # pad with spaces so the data stays 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)  # atomic: never a half-written weight file


def load_state_dict(pth):
    """The tensors of a .pth: a plain state dict, a checkpoint dict holding one
    under "state_dict"/"model", or a pickled module; DataParallel's "module." is dropped."""
    obj = torch.load(pth, map_location="cpu")
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    return {(k[len("module."):] if k.startswith("module.") else k): v
            for k, v in obj.items() if isinstance(v, torch.Tensor)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pth")
    p.add_argument("output")
    p.add_argument("--prefix", default="", help='prepended to every name, e.g. "backbone."')
    p.add_argument("--drop", action="append", default=[], help='drop names starting with this (e.g. "fc."); repeatable')
    p.add_argument("--arch", help="resnet18|resnet34|resnet50|resnet101: recorded as wsss.backbone metadata")
    p.add_argument("--base-width", type=int, default=64)
    args = p.parse_args()
    tensors = {args.prefix + k: v for k, v in load_state_dict(args.pth).items()
               if not any(k.startswith(d) for d in args.drop)}
    meta = {"wsss.source": os.path.basename(args.pth)}
    if args.arch:
        meta["wsss.backbone"] = json.dumps({"arch": args.arch, "base_width": args.base_width})
    save_safetensors(tensors, args.output, meta)
    print(f"{args.output}: {len(tensors)} tensors", file=sys.stderr)


if __name__ == "__main__":
    main()
