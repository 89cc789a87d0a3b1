"""Non-maximum suppression in plain torch (no torchvision), on the boxes' device.

    keep = batched_nms(boxes, scores, groups, iou_threshold=0.5)   # indices, highest score first

Greedy NMS visits boxes from the highest score down and drops every box that overlaps an already
kept box of the same group by more than the threshold. Its result is the unique `keep` with
keep[i] = not any(keep[j] and overlap(j, i) > t for j ranked above i), so instead of a Python loop
over boxes (one device sync each) it is computed as a fixed point of that equation, one matrix step
per round, starting from "keep everything": after round r the r highest-ranked decisions are final,
and in practice a handful of rounds settle it.

Boxes are (x0, y0, x1, y1) in continuous coordinates (area = (x1 - x0) * (y1 - y0)).
"""

from __future__ import annotations

from typing import Literal

import torch

from avatar.errors import AvatarInputError, ShapeError

Overlap = Literal["union", "min"]

# Rows of the overlap matrix computed at once: bounds the (chunk, N) float temporaries.
_CHUNK = 512


def box_overlap(a: torch.Tensor, b: torch.Tensor, mode: Overlap = "union") -> torch.Tensor:
    """Return the (N, M) float overlap of boxes a (N, 4) and b (M, 4): IoU ("union") or intersection / smaller area ("min")."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    if mode == "union":
        denom = area_a[:, None] + area_b[None, :] - inter
    elif mode == "min":
        denom = torch.minimum(area_a[:, None], area_b[None, :])
    else:
        raise AvatarInputError(f"overlap mode must be 'union' or 'min', got {mode!r}")
    return inter / denom.clamp(min=torch.finfo(inter.dtype).tiny)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, mode: Overlap = "union") -> torch.Tensor:
    """Return int64 indices of the boxes greedy NMS keeps, highest score first; boxes (N, 4), scores (N,)."""
    if boxes.ndim != 2 or boxes.shape[-1] != 4 or scores.shape != boxes.shape[:1]:
        raise ShapeError(f"nms takes boxes (N, 4) and scores (N,), got {tuple(boxes.shape)} and {tuple(scores.shape)}")
    n = int(boxes.shape[0])
    if n == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    order = torch.argsort(scores, descending=True, stable=True)
    b = boxes[order].float()
    # suppresses[j, i]: j ranks above i and overlaps it beyond the threshold.
    rank = torch.arange(n, device=b.device)
    suppresses = torch.cat([
        (box_overlap(b[s : s + _CHUNK], b, mode) > iou_threshold) & (rank[s : s + _CHUNK, None] < rank[None, :])
        for s in range(0, n, _CHUNK)
    ])
    keep = torch.ones(n, dtype=torch.bool, device=b.device)
    for _ in range(n):
        new = ~(suppresses & keep[:, None]).any(0)
        if torch.equal(new, keep):
            break
        keep = new
    return order[keep]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_threshold: float, mode: Overlap = "union") -> torch.Tensor:
    """Return int64 indices kept by NMS run separately per group id (e.g. image index), highest score first.

    Boxes of different groups never suppress each other: each group is shifted by its own offset,
    larger than the whole coordinate range, before one joint NMS.
    """
    if groups.shape != scores.shape:
        raise ShapeError(f"groups must be (N,) like scores, got {tuple(groups.shape)} and {tuple(scores.shape)}")
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    b = boxes.float()
    span = (b.max() - b.min()).abs() + 1.0
    shifted = b - b.min() + (groups.to(b.dtype) * (span + 1.0))[:, None]
    return nms(shifted, scores, iou_threshold, mode)
