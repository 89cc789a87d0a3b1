"""EmotionScorer: its numbers against a hand computation, CCC against numpy, the JSON and PNG outputs, bad inputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.errors import AvatarInputError, ShapeError, UnknownNameError
from recognizers.base import EMOTIONS, Recognition
from recognizers.scoring import EmotionScorer, Score, concordance_correlation

NAN = float("nan")


def _probs(rows: list[dict[str, float]]) -> np.ndarray:
    out = np.zeros((len(rows), 8), np.float32)
    for i, row in enumerate(rows):
        for name, p in row.items():
            out[i, EMOTIONS.index(name)] = p
    return out


@pytest.fixture()
def worked_example() -> Score:
    """Two batches; the expected numbers are derived by hand in the test below."""
    scorer = EmotionScorer(device="cpu")
    # Batch 1: raw probabilities over the 8 EMOTIONS.
    batch1 = _probs([
        {"happy": 0.8, "neutral": 0.2},             # happy   -> happy   (p_expected 0.8)
        {"happy": 0.6, "sad": 0.4},                 # happy   -> happy   (0.6)
        {"sad": 0.7, "happy": 0.3},                 # happy   -> sad     (0.3)
        {"sad": 0.9, "neutral": 0.1},               # sad     -> sad     (0.9)
        {"happy": 0.5, "sad": 0.4, "neutral": 0.1},  # sad    -> happy   (0.4)
        {"neutral": 1.0},                           # neutral -> neutral (1.0)
    ])
    scorer.update(batch1, ["happy", "happy", "happy", "sad", "sad", "neutral"])
    # Batch 2: a Recognition from a model without contempt (NaN column), one image without a face.
    batch2 = _probs([{}, {"neutral": 0.6, "happy": 0.4}, {"happy": 1.0}])
    batch2[:, EMOTIONS.index("contempt")] = NAN
    batch2[0] = NAN                                 # neutral -> no face (a miss)
    available = np.array([True] * 7 + [False])      # happy   -> neutral (0.4)
    scorer.update(Recognition(torch.from_numpy(batch2), available), ["neutral", "Happy", "contempt"])  # contempt: unmeasurable
    return scorer.compute()


def test_worked_example_matches_hand_computation(worked_example: Score) -> None:
    s = worked_example
    # 9 samples; the contempt one cannot be measured by this model, so 8 are scored.
    assert (s.n, s.n_scored, s.n_unmeasurable, s.n_no_face) == (9, 8, 1, 1)
    assert s.unavailable == ("contempt",)
    # Confusion rows expected, columns predicted (neutral, happy, sad; the rest are 0):
    #   neutral: neutral 1                   (+1 no face)
    #   happy:   happy 2, sad 1, neutral 1
    #   sad:     sad 1, happy 1
    expected = np.zeros((8, 8), np.int64)
    n, h, sd = (EMOTIONS.index(k) for k in ("neutral", "happy", "sad"))
    expected[n, n] = 1
    expected[h, h], expected[h, sd], expected[h, n] = 2, 1, 1
    expected[sd, sd], expected[sd, h] = 1, 1
    np.testing.assert_array_equal(s.confusion, expected)
    assert s.no_face.tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    # accuracy = correct / scored = (1 + 2 + 1) / 8
    assert s.accuracy == pytest.approx(0.5)
    # support (incl. the no-face miss): neutral 2, happy 4, sad 2
    assert [s.support[k] for k in ("neutral", "happy", "sad", "contempt")] == [2, 4, 2, 0]
    # precision = TP / predicted: neutral 1/2, happy 2/3, sad 1/2
    assert s.precision["neutral"] == pytest.approx(1 / 2)
    assert s.precision["happy"] == pytest.approx(2 / 3)
    assert s.precision["sad"] == pytest.approx(1 / 2)
    # recall = TP / support: neutral 1/2, happy 2/4, sad 1/2
    assert [s.recall[k] for k in ("neutral", "happy", "sad")] == pytest.approx([0.5, 0.5, 0.5])
    # F1 = 2TP / (2TP + FP + FN): neutral 2/(2+1+1), happy 4/(4+1+2), sad 2/(2+1+1)
    assert s.f1["neutral"] == pytest.approx(0.5)
    assert s.f1["happy"] == pytest.approx(4 / 7)
    assert s.f1["sad"] == pytest.approx(0.5)
    # balanced accuracy: mean recall over neutral, happy, sad; macro F1: mean of their F1
    assert s.balanced_accuracy == pytest.approx(0.5)
    assert s.macro_f1 == pytest.approx((0.5 + 4 / 7 + 0.5) / 3)
    # classes never expected nor predicted are undefined, not 0
    for k in ("surprise", "fear", "disgust", "anger", "contempt"):
        assert math.isnan(s.precision[k]) and math.isnan(s.recall[k]) and math.isnan(s.f1[k])
    # mean probability of the expected class over the 7 scored faces
    assert s.mean_expected_prob == pytest.approx((0.8 + 0.6 + 0.3 + 0.9 + 0.4 + 1.0 + 0.4) / 7, abs=1e-6)
    assert s.au_mae is None and s.valence_ccc is None


def test_to_dict_and_json(worked_example: Score, tmp_path: Path) -> None:
    path = worked_example.to_json(tmp_path / "out" / "score.json")
    data = json.loads(path.read_text())
    assert data["n"] == 9 and data["accuracy"] == pytest.approx(0.5)
    assert data["per_class"]["happy"]["f1"] == pytest.approx(4 / 7)
    assert data["per_class"]["fear"]["precision"] is None  # NaN -> null, valid JSON
    assert data["confusion"][1][1] == 2 and data["unavailable"] == ["contempt"]
    assert "accuracy=0.500" in str(worked_example)


def test_confusion_png(worked_example: Score, tmp_path: Path) -> None:
    from PIL import Image

    path = worked_example.confusion_png(tmp_path / "confusion.png", cell=40)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        w, h = im.size
    # 8 rows and 8 + 1 (no face) columns of 40 px, plus label margins
    assert 9 * 40 < w < 9 * 40 + 250 and 8 * 40 < h < 8 * 40 + 250
    # the happy->happy cell (2 of 4) is shaded; an empty row's cell stays white
    with Image.open(path) as im:
        px = np.asarray(im)
    assert px.std() > 10


def test_ccc_matches_numpy_formula() -> None:
    rng = np.random.default_rng(7)
    truth = rng.uniform(-1, 1, (50, 2))
    pred = np.clip(truth * 0.7 + 0.1 + rng.normal(0, 0.2, (50, 2)), -1, 1)

    def ccc(x: np.ndarray, y: np.ndarray) -> float:
        mx, my = x.mean(), y.mean()
        cov = ((x - mx) * (y - my)).mean()
        return 2 * cov / (x.var() + y.var() + (mx - my) ** 2)

    scorer = EmotionScorer(device="cpu")
    for sl in (slice(0, 20), slice(20, 50)):  # two updates: the running sums must combine exactly
        n = sl.stop - sl.start
        rec = Recognition(np.full((n, 8), 1 / 8, np.float32), np.ones(8, bool),
                          valence=torch.tensor(pred[sl, 0]), arousal=pred[sl, 1].astype(np.float32))
        scorer.update(rec, "happy", commanded_va=truth[sl])
    s = scorer.compute()
    assert s.n_va == 50
    assert s.valence_ccc == pytest.approx(ccc(pred[:, 0].astype(np.float32), truth[:, 0]), abs=1e-6)
    assert s.arousal_ccc == pytest.approx(ccc(pred[:, 1].astype(np.float32), truth[:, 1]), abs=1e-6)
    assert concordance_correlation(pred[:, 0], truth[:, 0]) == pytest.approx(ccc(pred[:, 0], truth[:, 0]))
    assert concordance_correlation(truth[:, 0], truth[:, 0]) == pytest.approx(1.0)


def test_au_error_against_commanded() -> None:
    names = ("AU06", "AU12")
    aus = torch.tensor([[0.5, 0.2], [0.1, 0.9], [NAN, 0.3]])  # NaN: not estimated, skipped
    rec = Recognition(np.full((3, 8), 1 / 8, np.float32), np.ones(8, bool), aus=aus, au_names=names)
    scorer = EmotionScorer(device="cpu")
    scorer.update(rec, ["happy", "sad", "neutral"], commanded_aus=np.array([[0.4, 0.2], [0.3, 0.5], [0.9, 0.0]]))
    s = scorer.compute()
    # |diffs|: AU06 0.1, 0.2 ; AU12 0.0, 0.4, 0.3  -> 1.0 over 5 values
    assert s.n_au == 5 and s.au_mae == pytest.approx(0.2)
    assert s.au_mae_per_au == pytest.approx({"AU06": 0.15, "AU12": 0.7 / 3})
    # by name, a subset
    scorer.reset()
    scorer.update(rec, "happy", commanded_aus={"AU12": [0.2, 0.9, 0.3]})
    s = scorer.compute()
    assert s.n_au == 3 and s.au_mae == pytest.approx(0.0, abs=1e-6)  # float32 recognitions


def test_expected_labels_forms() -> None:
    from avatar.emotion import Emotion

    probs = _probs([{"anger": 1.0}, {"happy": 1.0}])
    scorer = EmotionScorer(device="cpu")
    scorer.update(probs, ["angry", "HAPPY"])  # synonyms and case
    scorer.update(probs, np.array([6, 1]))  # indices
    scorer.update(torch.from_numpy(probs), torch.tensor([6, 1]))
    scorer.update(probs[:1], Emotion("anger", 0.5))  # one Emotion for the batch
    scorer.update(probs[1:], "happy@0.7")
    s = scorer.compute()
    assert s.n == 8 and s.accuracy == 1.0


def test_custom_label_subset_ignores_other_columns() -> None:
    scorer = EmotionScorer(labels=("neutral", "happy", "sad"), device="cpu")
    probs = _probs([{"anger": 0.9, "sad": 0.1}])
    scorer.update(Recognition(probs, np.ones(8, bool)), "sad")
    assert scorer.compute().accuracy == 1.0


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda s: s.update(_probs([{"happy": 1}]), "joyous"), UnknownNameError, ["'joyous'", "neutral, happy, sad"]),
        (lambda s: s.update(_probs([{"happy": 1}]), ["happy", "sad"]), ShapeError, ["2 entries", "batch of 1"]),
        (lambda s: s.update(np.zeros((2, 7)), "happy"), ShapeError, ["(B, 8)", "(2, 7)"]),
        (lambda s: s.update("happy", "happy"), AvatarInputError, ["Recognition", "str"]),
        (lambda s: s.update(_probs([{"happy": 1}]), np.array([9])), AvatarInputError, ["0..7"]),
        (lambda s: s.update(_probs([{"happy": 1}]), "happy", commanded_aus=[[0.1]]), AvatarInputError, ["no AU estimates"]),
        (lambda s: s.update(_probs([{"happy": 1}]), "happy", commanded_va=[0.1, 0.2]), AvatarInputError, ["no valence/arousal"]),
        (lambda s: s.update(Recognition(_probs([{"happy": 1}]), np.ones(8, bool), valence=np.zeros(1), arousal=np.zeros(1)),
                            "happy", commanded_va=[0.1, 0.2, 0.3]), ShapeError, ["(1, 2) or (2,)", "(3,)"]),
    ],
)
def test_bad_inputs_one_line(call, error: type, words: list[str]) -> None:  # type: ignore[no-untyped-def]
    scorer = EmotionScorer(device="cpu")
    with pytest.raises(error) as err:
        call(scorer)
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_empty_scorer_is_nan_not_a_crash() -> None:
    s = EmotionScorer(device="cpu").compute()
    assert s.n == 0 and math.isnan(s.accuracy) and math.isnan(s.balanced_accuracy)
    assert json.loads(json.dumps(s.to_dict()))["accuracy"] is None


def test_scorer_with_the_fer_recognizer_on_the_reference_crops() -> None:
    from recognizers.fer2013 import FER2013Recognizer

    ref = np.load(Path(__file__).parent / "data" / "fer2013_reference.npz")
    faces = np.repeat(ref["x"][:4, ..., None], 3, axis=-1)  # the astronaut crops: all happy
    scorer = EmotionScorer(device="cpu")
    scorer.update(FER2013Recognizer(device="cpu")(faces), "happy")
    s = scorer.compute()
    assert s.accuracy == 1.0 and s.recall["happy"] == 1.0 and s.unavailable == ("contempt",)
