"""avatar.facs: the AU catalogue, ActionUnits parsing, the AU -> ARKit matrix on the real head, and its inverse."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.errors import AvatarInputError, ShapeError, UnknownNameError
from avatar.facs import (
    AU_LABELS,
    AU_NAMES,
    AU_NUMBERS,
    AU_TO_ARKIT,
    AU_TO_ARKIT_LEFT,
    AU_TO_ARKIT_RIGHT,
    ActionUnits,
    au_row,
    au_to_arkit,
    parse_au_key,
)
from avatar.facs_inverse import arkit_to_au, arkit_to_au_vector, arkit_to_sides
from avatar.head import default_head
from avatar.rig import ARKIT_NAMES, index_of


@pytest.fixture(scope="module")
def head():
    return default_head()


def _y(head, name: str, weights: np.ndarray) -> float:
    return float(head.landmark(name, head.pose(weights))[1])


def _dy(head, name: str, weights: np.ndarray) -> float:
    return _y(head, name, weights) - _y(head, name, np.zeros(52, np.float32))


# ----------------------------------------------------------------------- catalogue / matrix


def test_catalogue_covers_the_required_aus():
    required = {1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17, 18, 20, 22, 23, 24, 25, 26, 27, 28, 43, 45}
    assert required <= set(AU_NUMBERS)
    assert AU_NAMES[1] == "inner brow raiser" and AU_NAMES[12] == "lip corner puller"
    assert AU_LABELS[AU_NUMBERS.index(26)] == "AU26"


def test_matrix_shape_range_and_sides_add_up():
    assert AU_TO_ARKIT.shape == (len(AU_NUMBERS), 52) and AU_TO_ARKIT.dtype == np.float32
    assert AU_TO_ARKIT.min() >= 0 and AU_TO_ARKIT.max() <= 1
    np.testing.assert_allclose(AU_TO_ARKIT_LEFT + AU_TO_ARKIT_RIGHT, AU_TO_ARKIT)
    with pytest.raises(ValueError):
        AU_TO_ARKIT[0, 0] = 1.0  # read-only: the mapping is shared by every caller


def test_ict_table_rows():
    assert au_row(12) == {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0}
    assert au_row("AU1") == {"browInnerUp": 1.0}
    assert au_row(45) == {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}
    assert au_row(61) == {"eyeLookOutLeft": 1.0, "eyeLookInRight": 1.0}
    assert au_row(26) == {"jawOpen": 0.5}
    assert set(au_row(27)) == {"jawOpen", "mouthStretchLeft", "mouthStretchRight"}
    assert set(au_row(25)) == {"jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight"}
    assert set(au_row(23)) == {"mouthPressLeft", "mouthPressRight", "mouthRollUpper", "mouthRollLower"}
    assert au_row(43) == au_row(45)


def test_bilateral_au_drives_both_sides_and_unilateral_one():
    w = ActionUnits({"AU12": 0.7}).to_arkit()
    assert w[index_of("mouthSmileLeft")] == pytest.approx(0.7) and w[index_of("mouthSmileRight")] == pytest.approx(0.7)
    w = ActionUnits({"R12": 0.5}).to_arkit()
    assert w[index_of("mouthSmileRight")] == pytest.approx(0.5) and w[index_of("mouthSmileLeft")] == 0
    w = ActionUnits({"L30": 1.0}).to_arkit()
    assert w[index_of("jawLeft")] == 1 and w[index_of("jawRight")] == 0
    # a one-sided midline AU moves the midline shape half as far
    assert ActionUnits({"R17": 1.0}).to_arkit()[index_of("mouthShrugLower")] == pytest.approx(0.5)


def test_combined_weights_are_clipped():
    w = ActionUnits({"AU12": 1.0, "R12": 0.8, "AU16": 1.0, "AU25": 1.0}).to_arkit()
    assert w.dtype == np.float32 and w.shape == (52,)
    assert w.max() <= 1.0
    assert w[index_of("mouthSmileRight")] == 1.0 and w[index_of("mouthLowerDownLeft")] == 1.0


# -------------------------------------------------------------------------- on the real head


def test_au12_raises_both_mouth_corners_and_left_shape_moves_left_corner(head):
    w = au_to_arkit("AU12=1")
    assert _dy(head, "mouth_corner_left", w) > 0.5 and _dy(head, "mouth_corner_right", w) > 0.5
    # +X is the subject's left: the Left shape moves the corner at +x, outward
    assert float(head.landmark("mouth_corner_left")[0]) > 0
    left_only = au_to_arkit("L12=1")
    assert _dy(head, "mouth_corner_left", left_only) > 0.5
    assert abs(_dy(head, "mouth_corner_right", left_only)) < 0.05


def test_au15_lowers_mouth_corners(head):
    w = au_to_arkit("AU15=1")
    assert _dy(head, "mouth_corner_left", w) < -0.2 and _dy(head, "mouth_corner_right", w) < -0.2


def test_brow_aus(head):
    up = au_to_arkit("AU1=1,AU2=1")
    for lm in ("brow_left_inner", "brow_right_inner", "brow_left_outer", "brow_right_outer"):
        assert _dy(head, lm, up) > 0.2
    down = au_to_arkit("AU4=1")
    assert _dy(head, "brow_left_inner", down) < -0.1 and _dy(head, "brow_right_inner", down) < -0.1


def test_jaw_aus_lower_the_chin_in_order(head):
    def gap(w):
        return _y(head, "upper_lip_inner", w) - _y(head, "lower_lip_inner", w)

    rest = gap(np.zeros(52, np.float32))
    g25, g26, g27 = (gap(au_to_arkit(f"AU{n}=1")) for n in (25, 26, 27))
    assert rest < g25 < g26 < g27  # lips part < jaw drop < mouth stretch
    assert 0.3 < g25 - rest < 1.0  # lips visibly apart, jaw barely moved
    chin = [_dy(head, "chin", au_to_arkit(f"AU{n}=1")) for n in (25, 26, 27)]
    assert chin[0] > -0.6 and chin[1] < -1.0 and chin[2] < chin[1]
    assert _dy(head, "chin", au_to_arkit({"AU26": 0.5})) < 0  # partial intensity still opens the jaw


def test_au43_and_au45_close_the_eyes(head):
    for n in (43, 45):
        w = au_to_arkit({n: 1.0})
        opening = _y(head, "eye_left_top", w) - _y(head, "eye_left_bottom", w)
        assert opening < 0.1


def test_au23_thins_the_lips_more_than_au24(head):
    def red(w):
        return (_y(head, "upper_lip_top", w) - _y(head, "upper_lip_inner", w)) + (
            _y(head, "lower_lip_inner", w) - _y(head, "lower_lip_bottom", w))

    rest = red(np.zeros(52, np.float32))
    assert red(au_to_arkit("AU23=1")) < red(au_to_arkit("AU24=1")) < rest
    assert red(au_to_arkit("AU28=1")) < red(au_to_arkit("AU23=1"))  # suck hides more red than tightening


# ---------------------------------------------------------------------------- ActionUnits


def test_constructors_agree():
    a = ActionUnits({1: 0.6, "AU4": 0.8, "R12": 0.5})
    b = ActionUnits.parse("AU1=0.6,AU4=0.8,AU12R=0.5")
    c = ActionUnits.parse(" 1=0.6 ; 4:0.8, R12=0.5 ")
    assert a == b == c
    assert a[1] == 0.6 and a["AU4"] == 0.8 and a["R12"] == 0.5 and a[12] == 0.0
    assert list(a) == ["AU1", "AU4", "R12"] and "R12" in a and 12 not in a
    assert ActionUnits.parse("AU12")["AU12"] == 1.0
    assert ActionUnits.coerce(None) == ActionUnits() and ActionUnits.coerce(a) is a
    assert a.to_dict() == {"AU1": 0.6, "AU4": 0.8, "R12": 0.5}
    assert a.names()["AU4"] == "brow lowerer"


def test_parse_key_spellings():
    assert parse_au_key(12) == (12, "")
    assert parse_au_key("au12") == (12, "")
    assert parse_au_key("R12") == (12, "R") == parse_au_key("AU12R") == parse_au_key("AU12r")
    assert parse_au_key("L14") == (14, "L")


def test_vectors_and_sides():
    a = ActionUnits({"AU6": 0.8, "R12": 0.5, "AU12": 0.2})
    v = a.to_vector()
    assert v.shape == (len(AU_NUMBERS),) and v.dtype == np.float32
    assert v[AU_NUMBERS.index(6)] == pytest.approx(0.8) and v[AU_NUMBERS.index(12)] == pytest.approx(0.7)
    s = a.to_sides()
    assert s[0, AU_NUMBERS.index(12)] == pytest.approx(0.2) and s[1, AU_NUMBERS.index(12)] == pytest.approx(0.7)
    assert ActionUnits.from_sides(s).to_dict() == pytest.approx(a.to_dict())
    assert ActionUnits.from_vector(ActionUnits({"AU1": 0.3}).to_vector()).to_dict() == pytest.approx({"AU1": 0.3})
    assert a.scaled(0.5)["AU6"] == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("bad", "error", "quoted"),
    [
        ("AU3=0.5", UnknownNameError, "'AU3'"),
        ("AU99=0.5", UnknownNameError, "'AU99'"),
        ("AU12=1.5", AvatarInputError, "1.5"),
        ("AU12=-0.1", AvatarInputError, "-0.1"),
        ("AU12=high", AvatarInputError, "'AU12=high'"),
        ("smile=0.5", AvatarInputError, "'smile=0.5'"),
        ("AU12=", AvatarInputError, "'AU12='"),
        ("AU1=0.2,AU1=0.3", AvatarInputError, "'AU1'"),
        ("AU30=0.5", AvatarInputError, "L30"),
    ],
)
def test_parse_errors_quote_the_bad_value(bad, error, quoted):
    with pytest.raises(error) as info:
        ActionUnits.parse(bad)
    message = str(info.value)
    assert quoted in message and "\n" not in message


def test_error_messages_say_the_fix():
    with pytest.raises(UnknownNameError, match=r"known AUs are 1, 2, 4"):
        ActionUnits({3: 0.5})
    with pytest.raises(AvatarInputError, match=r"use 0\.\.1"):
        ActionUnits({12: 2})
    with pytest.raises(AvatarInputError, match=r"nan"):
        ActionUnits({12: float("nan")})
    with pytest.raises(AvatarInputError):
        ActionUnits({12: True})
    with pytest.raises(AvatarInputError):
        ActionUnits([0.5])  # type: ignore[arg-type]


# -------------------------------------------------------------------------------- inverse


UNSHARED = (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 17, 18, 22, 29, 33, 61, 62, 63, 64)
MIDLINE = (1, 10, 17, 18, 22, 29, 33)  # one shape for both sides: a side entry reads back as bilateral


def _random_disjoint_aus(rng: np.random.Generator) -> ActionUnits:
    # AUs whose shapes no other AU uses (bilateral or one-sided), plus one AU of each shared group.
    values: dict[str, float] = {}
    for n in rng.choice(UNSHARED, size=8, replace=False):
        side = "" if n in MIDLINE else str(rng.choice(["", "", "L", "R"]))
        values[f"{side}{n}" if side else f"AU{n}"] = float(np.round(rng.uniform(0.05, 1.0), 3))
    values["L30" if rng.random() < 0.5 else "R30"] = float(np.round(rng.uniform(0.05, 1.0), 3))
    jaw = int(rng.choice([16, 20, 25, 26, 27]))
    values[f"AU{jaw}"] = float(np.round(rng.uniform(0.55 if jaw == 27 else 0.05, 1.0), 3))
    lips = int(rng.choice([23, 24, 28]))
    values[f"AU{lips}"] = float(np.round(rng.uniform(0.05, 1.0), 3))
    return ActionUnits(values)


def test_round_trip_recovers_disjoint_aus_exactly():
    rng = np.random.default_rng(7)
    for _ in range(50):
        aus = _random_disjoint_aus(rng)
        back = arkit_to_au(aus.to_arkit())
        assert set(back) == set(aus), (aus, back)
        for k in aus:
            assert back[k] == pytest.approx(aus[k], abs=1e-3)


@pytest.mark.parametrize("n", [23, 25, 26, 27])
def test_round_trip_of_composites_alone(n):
    for x in (1.0, 0.8) if n == 27 else (1.0, 0.6, 0.3):
        back = arkit_to_au(ActionUnits({n: x}).to_arkit())
        assert back.to_dict() == pytest.approx({f"AU{n}": x}, abs=1e-3)


def test_emotion_like_mix_round_trips():
    aus = ActionUnits({"AU1": 1.0, "AU2": 0.6, "AU4": 0.7, "AU5": 1.0, "AU7": 0.3, "AU20": 1.0, "AU25": 0.6, "AU26": 0.3})
    back = arkit_to_au(aus.to_arkit())
    assert back.to_dict() == pytest.approx(aus.to_dict(), abs=1e-3)
    anger = ActionUnits({"AU4": 1.0, "AU5": 0.6, "AU7": 0.8, "AU17": 0.4, "AU23": 0.9})
    assert arkit_to_au(anger.to_arkit()).to_dict() == pytest.approx(anger.to_dict(), abs=1e-3)


def test_documented_ambiguities():
    # AU16 and AU26 together hold AU25's pattern: the part that fits the 2:1 ratio reads as AU25
    back = arkit_to_au(ActionUnits({"AU16": 0.6, "AU26": 0.1}).to_arkit())
    assert back.to_dict() == pytest.approx({"AU16": 0.4, "AU25": 0.5}, abs=1e-3)
    assert arkit_to_au(ActionUnits({"AU43": 0.7}).to_arkit()).to_dict() == pytest.approx({"AU45": 0.7})
    # AU27 within AU26's jaw range reads as AU26 + AU20 (the same pose)
    back = arkit_to_au(ActionUnits({"AU27": 0.4}).to_arkit())
    assert back.to_dict() == pytest.approx({"AU20": 0.12, "AU26": 0.8}, abs=1e-3)
    np.testing.assert_allclose(back.to_arkit(), ActionUnits({"AU27": 0.4}).to_arkit(), atol=1e-5)


def test_inverse_reproduces_any_pose_it_can_express():
    rng = np.random.default_rng(3)
    for _ in range(20):
        aus = ActionUnits({f"AU{n}": float(rng.uniform(0, 0.45)) for n in rng.choice([1, 4, 12, 15, 16, 23, 24, 25, 26, 28], 5, replace=False)})
        w = aus.to_arkit()
        np.testing.assert_allclose(arkit_to_au(w, min_intensity=0).to_arkit(), w, atol=2e-3)


def test_inverse_batches_and_validates():
    w = np.stack([ActionUnits({"AU12": 0.5}).to_arkit(), np.zeros(52, np.float32), ActionUnits({"AU4": 1}).to_arkit()])
    out = arkit_to_au(w)
    assert isinstance(out, list) and len(out) == 3
    assert out[0]["AU12"] == pytest.approx(0.5) and len(out[1]) == 0 and out[2]["AU4"] == pytest.approx(1.0)
    assert arkit_to_sides(w).shape == (3, 2, len(AU_NUMBERS))
    v = arkit_to_au_vector(w)
    assert v.shape == (3, len(AU_NUMBERS)) and v[2, AU_NUMBERS.index(4)] == pytest.approx(1.0)
    with pytest.raises(ShapeError, match=r"\(3, 51\)"):
        arkit_to_au(np.zeros((3, 51)))
    with pytest.raises(AvatarInputError, match="NaN"):
        arkit_to_au(np.full(52, np.nan))


def test_unused_shapes_are_ignored():
    w = np.zeros(52, np.float32)
    w[ARKIT_NAMES.index("mouthClose")] = 1.0
    w[ARKIT_NAMES.index("tongueOut")] = 1.0
    assert len(arkit_to_au(w)) == 0
