"""The in-loop emotion scorer: accumulate recognitions against the commanded emotion, then a `Score`.

    scorer = EmotionScorer(device="auto")
    for batch in batches:                       # inside a generation loop
        frames = render(batch.weights)          # float (B, 3, H, W) on the device
        scorer.update(recognizer(frames), batch.labels, commanded_va=batch.va)
    score = scorer.compute()                    # accuracy, balanced accuracy, per-class P/R/F1, ...
    score.to_json("score.json"); score.confusion_png("confusion.png")

Running totals (confusion counts, AU absolute-error sums, valence/arousal moment sums for CCC)
stay in torch tensors on the scorer's device; `update` moves nothing to the host except the
labels a caller passes as strings, and `compute` does the one transfer.

How awkward samples count:
- no face found (an all-NaN probability row): a miss. It counts in accuracy and recall as wrong,
  in `no_face` per expected class, and in no precision (nothing was predicted). Reports say so apart:
  `n_no_face`, and `accuracy_on_faces` (correct / scored samples where a face was found).
- an expected class the recognizer cannot output (`emotion_available` False, e.g. contempt for
  FER2013): not measurable, so left out of every metric and counted in `n_unmeasurable`;
  `Score.unavailable` names those classes. Scoring it as a certain miss would only measure the model.
- predictions only range over the scorer's `labels` (columns of other names are ignored).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avatar.device import resolve_device
from avatar.errors import AvatarInputError, ShapeError, UnknownNameError
from avatar.io.atomic import atomic_path
from avatar.emotion import SYNONYMS
from avatar.arrays import is_torch, nan_argmax
from recognizers.base import EMOTIONS, Recognition


def _f(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else float("nan")


@dataclass(frozen=True)
class Score:
    """How well the recognized emotion matched the commanded one, over `n` samples.

    Attributes:
        labels: the class names, in the order of `confusion`'s rows and columns.
        n: samples seen; n_scored: those in accuracy/recall (n - n_unmeasurable);
        n_no_face: samples with no face found (scored as misses); n_unmeasurable: samples whose
            expected class the recognizer cannot output (left out of all metrics).
        accuracy: correct / n_scored. balanced_accuracy: mean recall over classes that occurred
            as expected labels. macro_f1: mean F1 over the same classes. NaN when undefined.
        precision, recall, f1: per class (NaN where undefined: precision of a never-predicted
            class, recall of a never-expected one; F1 = 2TP / (2TP + FP + FN)).
        support: expected count per class (including no-face misses).
        confusion: (K, K) int64 counts, rows expected, columns predicted.
        no_face: (K,) int64 no-face misses per expected class.
        unavailable: classes the recognizer could not output (seen in any update).
        mean_expected_prob: mean probability given to the expected class (faces found only).
        au_mae: mean |recognized - commanded| AU intensity, au_mae_per_au by AU name, n_au values.
        valence_ccc, arousal_ccc: Lin's concordance correlation, n_va samples.
        judge: the recognizer that graded (its model name); judge_trained_on: what it learned from.
    """

    labels: tuple[str, ...]
    n: int
    n_scored: int
    n_no_face: int
    n_unmeasurable: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    precision: dict[str, float]
    recall: dict[str, float]
    f1: dict[str, float]
    support: dict[str, int]
    confusion: np.ndarray
    no_face: np.ndarray
    unavailable: tuple[str, ...] = ()
    mean_expected_prob: float = float("nan")
    au_mae: float | None = None
    au_mae_per_au: dict[str, float] | None = None
    n_au: int = 0
    valence_ccc: float | None = None
    arousal_ccc: float | None = None
    n_va: int = 0
    judge: str = ""
    judge_trained_on: str = ""

    @property
    def accuracy_on_faces(self) -> float:
        """Return correct / scored samples where a face was found (no-face samples left out, reported apart)."""
        return _ratio(float(np.trace(self.confusion)), self.n_scored - self.n_no_face)

    def to_dict(self) -> dict[str, Any]:
        """Return the score as plain JSON-ready values (NaN becomes None)."""
        return {
            "judge": self.judge, "judge_trained_on": self.judge_trained_on,
            "labels": list(self.labels),
            "n": self.n, "n_scored": self.n_scored, "n_no_face": self.n_no_face, "n_unmeasurable": self.n_unmeasurable,
            "accuracy": _f(self.accuracy), "accuracy_on_faces": _f(self.accuracy_on_faces), "balanced_accuracy": _f(self.balanced_accuracy), "macro_f1": _f(self.macro_f1),
            "mean_expected_prob": _f(self.mean_expected_prob),
            "per_class": {
                k: {"precision": _f(self.precision[k]), "recall": _f(self.recall[k]), "f1": _f(self.f1[k]), "support": self.support[k]}
                for k in self.labels
            },
            "confusion": self.confusion.tolist(),
            "no_face": self.no_face.tolist(),
            "unavailable": list(self.unavailable),
            "au_mae": _f(self.au_mae) if self.au_mae is not None else None,
            "au_mae_per_au": {k: _f(v) for k, v in self.au_mae_per_au.items()} if self.au_mae_per_au else None,
            "n_au": self.n_au,
            "valence_ccc": _f(self.valence_ccc) if self.valence_ccc is not None else None,
            "arousal_ccc": _f(self.arousal_ccc) if self.arousal_ccc is not None else None,
            "n_va": self.n_va,
        }

    def to_json(self, path: str | os.PathLike) -> Path:
        """Return the path written: the score as indented JSON (written atomically)."""
        target = Path(path)
        with atomic_path(target) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return target

    def confusion_png(self, path: str | os.PathLike, cell: int = 56) -> Path:
        """Return the path written: a labelled heat-map of the confusion matrix with counts (PIL, no matplotlib)."""
        from recognizers.confusion_plot import confusion_image

        image = confusion_image(self.confusion, self.labels, self.no_face, cell=cell,
                                title=f"rows expected, columns predicted   n={self.n_scored}  accuracy={self.accuracy:.3f}  balanced={self.balanced_accuracy:.3f}")
        target = Path(path)
        with atomic_path(target) as tmp:
            image.save(tmp, format="PNG")
        return target

    def __repr__(self) -> str:
        """Return a one-line summary: the judge, n, accuracy, balanced accuracy, macro F1 (no arrays)."""
        judge = f"judge={self.judge!r}, " if self.judge else ""
        extra = f", no_face={self.n_no_face}" if self.n_no_face else ""
        return (f"Score({judge}n={self.n}, accuracy={self.accuracy:.3f}, balanced_accuracy={self.balanced_accuracy:.3f}, "
                f"macro_f1={self.macro_f1:.3f}{extra})")

    def _predicted_counts(self) -> dict[str, int]:
        """Return {class: how often it was predicted} over the faces found, most frequent first."""
        cols = self.confusion.sum(axis=0)
        order = np.argsort(-cols, kind="stable")
        return {self.labels[k]: int(cols[k]) for k in order if cols[k] > 0}

    def __str__(self) -> str:
        if self.n <= 3:
            # A few images: per-class precision/recall would be noise (and NaN); say what each read as.
            expected = [k for k in self.labels if self.support[k]]
            read = ", ".join(f"{k}" + (f" x{c}" if c > 1 else "") for k, c in self._predicted_counts().items())
            line = (f"{self.n} image{'s' * (self.n != 1)}: expected {', '.join(expected) or '-'}, read as {read or '-'}"
                    + (f", no face found in {self.n_no_face} of {self.n_scored} (counted as misses)" if self.n_no_face else "")
                    + (f", {self.n_unmeasurable} not measurable (no {', '.join(self.unavailable)} class)" if self.n_unmeasurable else "")
                    + f"; accuracy {self.accuracy:.3f}"
                    + ("" if math.isnan(self.mean_expected_prob) else f", mean p(expected) {self.mean_expected_prob:.3f}"))
            if self.judge:
                return f"judge: {self.judge} (trained on {self.judge_trained_on or 'unknown data'})\n" + line
            return line
        head = f"n={self.n} accuracy={self.accuracy:.3f} balanced_accuracy={self.balanced_accuracy:.3f} macro_f1={self.macro_f1:.3f}"
        if self.judge:
            head = f"judge: {self.judge} (trained on {self.judge_trained_on or 'unknown data'})\n" + head
        if self.n_no_face:
            head += (f"\n  no face found in {self.n_no_face} of {self.n_scored} (counted as misses above); "
                     f"accuracy where a face was found {self.accuracy_on_faces:.3f}")
        if self.n_unmeasurable:
            head += f"\n  {self.n_unmeasurable} not measurable: the judge has no {', '.join(self.unavailable)} class"
        # Classes that were expected get a row; ones only predicted (precision 0, recall undefined) are counted apart.
        rows = [f"  {k:<9} P={self.precision[k]:.3f} R={self.recall[k]:.3f} F1={self.f1[k]:.3f} n={self.support[k]}"
                for k in self.labels if self.support[k]]
        only_read = {k: c for k, c in self._predicted_counts().items() if not self.support[k]}
        if only_read:
            rows.append("  also read as (never expected): " + ", ".join(f"{k} x{c}" for k, c in only_read.items()))
        tail = []
        if self.au_mae is not None:
            tail.append(f"  AU MAE={self.au_mae:.4f} over {self.n_au} values")
        if self.valence_ccc is not None:
            tail.append(f"  CCC valence={self.valence_ccc:.3f} arousal={self.arousal_ccc:.3f} over {self.n_va}")
        return "\n".join([head, *rows, *tail])


class EmotionScorer:
    """Accumulates recognitions against expected labels over batches; `compute()` returns a `Score`.

    Args:
        labels: the class vocabulary (default `EMOTIONS`); expected labels must be among them.
        device: where the running totals live ("auto", "cpu", "cuda", torch.device).
        judge: the recognizer that grades (or its name), named in the Score with its training data.
    """

    def __init__(self, labels: Sequence[str] = EMOTIONS, device: Any = "auto", judge: Any = None) -> None:
        # `judge` (a recognizer, or its name) is named in the Score with what it was trained on.
        self.judge = str(getattr(judge, "model_name", judge) or "")
        self.judge_trained_on = str(getattr(judge, "training_data", "") or "")
        self.labels = tuple(str(k) for k in labels)
        if len(set(self.labels)) != len(self.labels) or not self.labels:
            raise AvatarInputError(f"labels must be distinct names, got {list(labels)}")
        self._index = {k: i for i, k in enumerate(self.labels)}
        self.device = resolve_device(device)
        self.reset()

    def reset(self) -> None:
        """Forget every update."""
        import torch

        k, dev = len(self.labels), self.device
        self._confusion = torch.zeros(k * k, dtype=torch.int64, device=dev)
        self._no_face = torch.zeros(k, dtype=torch.int64, device=dev)
        self._unmeasurable = torch.zeros(k, dtype=torch.int64, device=dev)
        self._prob_sum = torch.zeros((), dtype=torch.float64, device=dev)
        self._prob_n = torch.zeros((), dtype=torch.int64, device=dev)
        self._au_names: tuple[str, ...] | None = None
        self._au_abs = torch.zeros(0, dtype=torch.float64, device=dev)
        self._au_n = torch.zeros(0, dtype=torch.int64, device=dev)
        # Per dimension (valence, arousal): n, sum x, sum y, sum x^2, sum y^2, sum xy (x recognized, y commanded).
        self._va = torch.zeros(2, 6, dtype=torch.float64, device=dev)
        self._unavailable: set[str] = set()
        self._n = 0

    # -- update -----------------------------------------------------------------------------

    def update(
        self,
        recognition_or_probs: Recognition | Any,
        expected_labels: str | Sequence[str] | Any,
        commanded_aus: Any = None,
        commanded_va: Any = None,
    ) -> None:
        """Add a batch: a `Recognition` (or (B, K) probabilities over `labels`) and what was commanded.

        Args:
            recognition_or_probs: a `Recognition`, or probabilities (B, K) numpy/torch in `labels`
                order (NaN rows: no face).
            expected_labels: one name for the whole batch, B names, or (B,) int indices into `labels`
                (numpy or torch; an int tensor on the device saves the names -> indices upload).
            commanded_aus: (B, n) AU intensities in the recognition's `au_names` order, or a mapping
                AU name -> (B,) values or a scalar; needs a recognition with `aus`.
            commanded_va: (B, 2) or (2,) valence, arousal; needs a recognition with valence/arousal.
        """
        import torch

        rec = recognition_or_probs if isinstance(recognition_or_probs, Recognition) else None
        probs, available = self._probs(recognition_or_probs)
        b = int(probs.shape[0])
        expected = self._expected(expected_labels, b)
        k = len(self.labels)

        avail_t = torch.as_tensor(available, device=self.device)
        measurable = avail_t[expected]
        pred = nan_argmax(probs)
        has_face = pred >= 0
        scored = measurable & has_face
        self._confusion += torch.bincount((expected * k + pred)[scored], minlength=k * k)
        self._no_face += torch.bincount(expected[measurable & ~has_face], minlength=k)
        self._unmeasurable += torch.bincount(expected[~measurable], minlength=k)
        self._unavailable.update(self.labels[i] for i in np.flatnonzero(~available))
        # Probability of the expected class, renormalised over the classes the recognizer has.
        p = torch.nan_to_num(probs, nan=0.0)
        p = p / p.sum(dim=1, keepdim=True).clamp_min(1e-12)
        self._prob_sum += p.gather(1, expected[:, None])[:, 0][scored].double().sum()
        self._prob_n += scored.sum()
        self._n += b

        if commanded_aus is not None:
            self._update_aus(rec, commanded_aus, b)
        if commanded_va is not None:
            self._update_va(rec, commanded_va, b)

    def _probs(self, x: Any) -> tuple[Any, np.ndarray]:
        import torch

        if isinstance(x, Recognition):
            names = tuple(x.emotion_names)
            cols = [names.index(k) if k in names else -1 for k in self.labels]
            probs = torch.as_tensor(x.emotion_probs).to(self.device, torch.float32)
            if probs.ndim != 2:
                raise ShapeError(f"recognition.emotion_probs must be (B, K), got {tuple(probs.shape)}")
            keep = torch.tensor([max(c, 0) for c in cols], device=self.device)
            probs = probs[:, keep]
            available = np.array([c >= 0 and bool(x.emotion_available[c]) for c in cols])
            if (~available).any():
                probs[:, torch.as_tensor(~available, device=self.device)] = float("nan")
            return probs, available
        if not (is_torch(x) or isinstance(x, (np.ndarray, list, tuple))):
            raise AvatarInputError(f"update takes a Recognition or (B, {len(self.labels)}) probabilities, got {type(x).__name__}")
        probs = torch.as_tensor(np.asarray(x, dtype=np.float32) if not is_torch(x) else x).to(self.device, torch.float32)
        if probs.ndim != 2 or probs.shape[1] != len(self.labels):
            raise ShapeError(f"probabilities must be (B, {len(self.labels)}) in labels order {list(self.labels)}, got {tuple(probs.shape)}")
        return probs, np.ones(len(self.labels), dtype=bool)

    def _expected(self, labels: Any, b: int) -> Any:
        import torch

        if isinstance(labels, str) or hasattr(labels, "dominant"):
            idx = [self._lookup(labels)] * b
        elif is_torch(labels) or (isinstance(labels, np.ndarray) and labels.dtype.kind in "iu"):
            t = torch.as_tensor(labels).to(self.device).long().reshape(-1)
            if t.shape[0] != b:
                raise ShapeError(f"expected_labels has {t.shape[0]} entries for a batch of {b}: pass one label per image, or one name")
            k = len(self.labels)
            if t.numel() and bool(((t < 0) | (t >= k)).any()):  # one scalar sync; bad indices would corrupt the counts
                raise AvatarInputError(f"expected label indices must be in 0..{k - 1} (indices into {list(self.labels)})")
            return t
        else:
            seq = list(labels)
            if len(seq) != b:
                raise ShapeError(f"expected_labels has {len(seq)} entries for a batch of {b}: pass one label per image, or one name")
            idx = [self._lookup(v) for v in seq]
        return torch.tensor(idx, dtype=torch.int64, device=self.device)

    def _lookup(self, label: Any) -> int:
        # An avatar.emotion.Emotion scores as its dominant label; "anger@0.9" as "anger".
        name = label.dominant() if hasattr(label, "dominant") else label
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool) and 0 <= int(name) < len(self.labels):
            return int(name)
        key = str(name).partition("@")[0].strip().lower()
        i = self._index.get(key, self._index.get(SYNONYMS.get(key, key)))
        if i is None:
            raise UnknownNameError(f"unknown expected label {name!r}: use one of {', '.join(self.labels)}")
        return i

    def _update_aus(self, rec: Recognition | None, commanded: Any, b: int) -> None:
        import torch

        if rec is None or rec.aus is None or not rec.au_names:
            model = rec.model if rec is not None else "raw probabilities"
            raise AvatarInputError(f"commanded_aus given but {model or 'the recognition'} has no AU estimates: drop commanded_aus or use a recognizer that outputs AUs")
        names = tuple(rec.au_names)
        if self._au_names is None:
            self._au_names = names
            self._au_abs = torch.zeros(len(names), dtype=torch.float64, device=self.device)
            self._au_n = torch.zeros(len(names), dtype=torch.int64, device=self.device)
        elif names != self._au_names:
            raise AvatarInputError(f"AU names changed between updates ({list(self._au_names)} then {list(names)}): use one recognizer per scorer")
        got = torch.as_tensor(rec.aus).to(self.device, torch.float64)
        want = torch.full_like(got, float("nan"))
        if isinstance(commanded, Mapping):
            unknown = [a for a in commanded if a not in names]
            if unknown:
                raise UnknownNameError(f"commanded AU {unknown[0]!r} is not estimated by the recognizer: use one of {', '.join(names)}")
            for a, v in commanded.items():
                want[:, names.index(a)] = torch.as_tensor(np.asarray(v, dtype=np.float64) if not is_torch(v) else v).to(self.device, torch.float64)
        else:
            arr = torch.as_tensor(np.asarray(commanded, dtype=np.float64) if not is_torch(commanded) else commanded).to(self.device, torch.float64)
            if tuple(arr.shape) not in ((b, len(names)), (len(names),)):
                raise ShapeError(f"commanded_aus must be ({b}, {len(names)}) in the order {list(names)}, got {tuple(arr.shape)}")
            want = arr.expand(b, len(names)).clone()
        ok = ~(torch.isnan(got) | torch.isnan(want))
        self._au_abs += torch.where(ok, (got - want).abs(), torch.zeros_like(got)).sum(0)
        self._au_n += ok.sum(0)

    def _update_va(self, rec: Recognition | None, commanded: Any, b: int) -> None:
        import torch

        if rec is None or rec.valence is None or rec.arousal is None:
            model = rec.model if rec is not None else "raw probabilities"
            raise AvatarInputError(f"commanded_va given but {model or 'the recognition'} has no valence/arousal: drop commanded_va or use a recognizer that outputs them")
        arr = torch.as_tensor(np.asarray(commanded, dtype=np.float64) if not is_torch(commanded) else commanded).to(self.device, torch.float64)
        if tuple(arr.shape) not in ((b, 2), (2,)):
            raise ShapeError(f"commanded_va must be ({b}, 2) or (2,) as (valence, arousal), got {tuple(arr.shape)}")
        want = arr.expand(b, 2)
        got = torch.stack([torch.as_tensor(rec.valence), torch.as_tensor(rec.arousal)], 1).to(self.device, torch.float64).reshape(b, 2)
        ok = ~(torch.isnan(got) | torch.isnan(want))
        x, y = torch.where(ok, got, 0.0), torch.where(ok, want, 0.0)
        self._va += torch.stack([ok.sum(0).double(), x.sum(0), y.sum(0), (x * x).sum(0), (y * y).sum(0), (x * y).sum(0)], 1)

    # -- compute ----------------------------------------------------------------------------

    def compute(self) -> Score:
        """Return the `Score` of everything added since the last `reset()`."""
        k = len(self.labels)
        conf = self._confusion.view(k, k).cpu().numpy().astype(np.int64)
        no_face = self._no_face.cpu().numpy().astype(np.int64)
        unmeasurable = int(self._unmeasurable.sum())
        tp = np.diag(conf).astype(np.float64)
        support = conf.sum(1) + no_face
        predicted = conf.sum(0)
        precision = [_ratio(tp[i], predicted[i]) for i in range(k)]
        recall = [_ratio(tp[i], support[i]) for i in range(k)]
        f1 = [_ratio(2 * tp[i], 2 * tp[i] + (predicted[i] - tp[i]) + (support[i] - tp[i])) for i in range(k)]
        present = support > 0
        n_scored = int(support.sum())
        au_mae = au_per = None
        if self._au_names is not None:
            abs_sum, n_au = self._au_abs.cpu().numpy(), self._au_n.cpu().numpy()
            au_mae = _ratio(abs_sum.sum(), n_au.sum())
            au_per = {a: _ratio(s, c) for a, s, c in zip(self._au_names, abs_sum, n_au)}
        va = self._va.cpu().numpy()
        v_ccc = a_ccc = None
        if va[0, 0] > 0 or va[1, 0] > 0:
            v_ccc, a_ccc = (_ccc_from_sums(*va[d]) for d in range(2))
        return Score(
            labels=self.labels, n=self._n, n_scored=n_scored, n_no_face=int(no_face.sum()), n_unmeasurable=unmeasurable,
            accuracy=_ratio(tp.sum(), n_scored),
            balanced_accuracy=float(np.mean(np.array(recall)[present])) if present.any() else float("nan"),
            macro_f1=float(np.mean(np.array(f1)[present])) if present.any() else float("nan"),
            precision=dict(zip(self.labels, precision)), recall=dict(zip(self.labels, recall)), f1=dict(zip(self.labels, f1)),
            support={lab: int(s) for lab, s in zip(self.labels, support)},
            confusion=conf, no_face=no_face,
            unavailable=tuple(lab for lab in self.labels if lab in self._unavailable),
            mean_expected_prob=_ratio(float(self._prob_sum), int(self._prob_n)),
            au_mae=au_mae, au_mae_per_au=au_per, n_au=int(self._au_n.sum()) if self._au_names else 0,
            valence_ccc=v_ccc, arousal_ccc=a_ccc, n_va=int(va[:, 0].max()),
            judge=self.judge, judge_trained_on=self.judge_trained_on,
        )


def _ccc_from_sums(n: float, sx: float, sy: float, sxx: float, syy: float, sxy: float) -> float:
    """Return Lin's concordance correlation 2 cov / (var_x + var_y + (mean_x - mean_y)^2) from running sums (population moments)."""
    if n < 2:
        return float("nan")
    mx, my = sx / n, sy / n
    vx, vy = sxx / n - mx * mx, syy / n - my * my
    cov = sxy / n - mx * my
    return _ratio(2.0 * cov, vx + vy + (mx - my) ** 2)


def concordance_correlation(x: Any, y: Any) -> float:
    """Return Lin's concordance correlation coefficient of two 1-D arrays (population moments)."""
    a, b = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ShapeError(f"concordance_correlation needs equal-length arrays, got {a.shape} and {b.shape}")
    return _ccc_from_sums(len(a), a.sum(), b.sum(), (a * a).sum(), (b * b).sum(), (a * b).sum())
