"""Prints how the recognizers read real photos that ship inside registry packages (scikit-image).

- `skimage.data.astronaut()`: one 512x512 colour portrait, smiling (expected: happy), via the face detector;
- `skimage.data.lfw_subset()`: 100 grayscale 25x25 face crops from Labeled Faces in the Wild (no emotion
  labels), upsampled and read as crops: we report the label distribution of each recognizer and how
  often ExpressionNet agrees with the independent FER2013 model (a proxy, not an accuracy).

    python benchmarks/eval_photos.py
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from _machine import machine


def main() -> None:
    from skimage import data
    from skimage.transform import resize

    from avatar.app.judges import make_recognizer

    print(f"machine: {machine()}")
    astro = data.astronaut()
    faces = data.lfw_subset()[:100]  # the first 100 are faces, the rest are not
    crops = np.stack([(resize(f, (96, 96), order=1) * 255).astype(np.uint8) for f in faces])
    crops = np.repeat(crops[..., None], 3, axis=3)
    labels = {}
    for name in ("expression-net", "fer2013"):
        rec = make_recognizer(name, "cpu", detect_faces=True)
        a = rec(astro[None]).to_numpy()
        p = a.emotion_probs[0]
        top = ", ".join(f"{n} {x:.2f}" for n, x in sorted(zip(a.emotion_names, np.nan_to_num(p)), key=lambda t: -t[1])[:3])
        print(f"{name:15s} astronaut (expected happy): {a.labels[0]}  [{top}]")
        rec.detect_faces = False
        labels[name] = rec(crops).to_numpy().labels
        print(f"{name:15s} LFW 100 faces: {dict(Counter(labels[name]).most_common())}")
    agree = np.mean([a == b for a, b in zip(labels["expression-net"], labels["fer2013"])])
    print(f"ExpressionNet / FER2013 agreement on LFW faces: {agree:.2f} (FER2013 has no contempt class)")


if __name__ == "__main__":
    main()
