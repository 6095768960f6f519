#!/usr/bin/env python3
"""Regenerates the binary JPEG fixtures of the bad-input corpus (files/*.jpg).

They are committed, so the corpus itself needs only the Python standard
library; this script needs PIL and is run by hand when a fixture must change.
Every other bad file (truncated, wrong dtype, bad header, ...) is made at run
time from these or from scratch by the `gen` steps of run.py.
"""
import io
import os

from PIL import Image

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files")


def picture(w, h):
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = (8 * x % 256, 10 * y % 256, 128 if x < w // 2 else 32)
    return img


def save(img, name, **kw):
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **kw)
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(buf.getvalue())


def main():
    os.makedirs(HERE, exist_ok=True)
    rgb = picture(16, 12)
    save(rgb, "rgb.jpg")                       # 16x12 baseline RGB
    save(rgb, "progressive.jpg", progressive=True)
    save(rgb.convert("L"), "grey.jpg")         # greyscale: accepted, three equal channels
    save(rgb.convert("CMYK"), "cmyk.jpg")      # four components (Adobe)
    # EXIF orientation 6 ("rotate 90 CW to view"): stored 16x12.
    exif = Image.Exif()
    exif[0x0112] = 6
    save(rgb, "exif6.jpg", exif=exif.tobytes())


if __name__ == "__main__":
    main()
