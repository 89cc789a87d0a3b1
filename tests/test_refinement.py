"""Recognizer-guided refinement: gradients, regularisers, sequences, the shipped table and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.emotion import EMOTIONS
from avatar.errors import AvatarInputError
from avatar.rig import ARKIT_NAMES
from generators.refinement import MOUTH_COLUMNS, RefinementOptions, refine_expression, refine_sequence
from generators.refinement.columns import mirror_index
from generators.refinement.penalties import lip_gap_heights

pytestmark = [pytest.mark.gl]


class WeightsAsPixels:
    """A render stand-in: each image is its weights in one row, so a toy critic sees them directly."""

    device = torch.device("cpu")

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, weights, identities, yaws, light):  # noqa: ANN001, ANN204
        self.calls += 1
        assert len(identities) == len(yaws) == weights.shape[0]
        return weights[:, None, None, :].expand(-1, 3, 1, 52), np.tile([0.0, 0.0, 52.0, 1.0], (weights.shape[0], 1))


class LinearCritic:
    """A toy critic: logits = weights @ M, so it "likes" the columns M favours for a class."""

    device = torch.device("cpu")

    def __init__(self, favour: dict[str, float], target: str = "anger", scale: float = 20.0) -> None:
        m = torch.zeros(52, 8)
        for name, v in favour.items():
            m[ARKIT_NAMES.index(name), EMOTIONS.index(target)] = v * scale
        self.m = m

    def log_probs(self, images, boxes=None):  # noqa: ANN001, ANN201
        return torch.log_softmax(images[:, 0, 0, :] @ self.m, dim=-1)


FAST = RefinementOptions(steps=25, lr=0.1, identities=(1, 2), yaws=(0.0, 30.0), batch_size=2, eval_batch=2, space="arkit",
                         prototype_weight=0.0, sparsity_weight=0.0, photometric_jitter=0.0, confident=0.999)


@pytest.mark.slow
def test_symmetric_ties_pairs_and_bounds_hold() -> None:
    critic = LinearCritic({"mouthSmileRight": -1.0, "eyeSquintLeft": 1.0}, scale=3.0)
    res = refine_expression("anger", 1.0, WeightsAsPixels(), critic, options=FAST)
    w = res.weights
    assert w.shape == (52,) and w.dtype == np.float32
    assert np.all((w >= 0) & (w <= 1))
    np.testing.assert_array_equal(w, w[mirror_index()])  # exactly symmetric, not merely close
    squint = ARKIT_NAMES.index("eyeSquintLeft")
    assert w[squint] > res.prototype[squint] + 0.1  # the favoured column rose, and took its mirror with it
    assert res.history["p_target"][-1] > res.history["p_target"][0]
    # Gaze never moves.
    gaze = [i for i, n in enumerate(ARKIT_NAMES) if n.startswith("eyeLook")]
    np.testing.assert_array_equal(w[gaze], res.prototype[gaze])


def test_asymmetric_can_move_one_side() -> None:
    critic = LinearCritic({"mouthSmileRight": 1.0, "mouthSmileLeft": -1.0}, target="contempt")
    opts = RefinementOptions(**{**FAST.__dict__, "symmetric": False})
    zero = np.zeros(52, np.float32)
    res = refine_expression("contempt", 1.0, WeightsAsPixels(), critic, options=opts, init=zero, prototype=zero)
    assert res.weights[ARKIT_NAMES.index("mouthSmileRight")] > 0.5 > res.weights[ARKIT_NAMES.index("mouthSmileLeft")]


@pytest.mark.slow
def test_regularisers_pull_toward_prototype_and_zero() -> None:
    critic = LinearCritic({"cheekPuff": 1.0}, scale=0.01)  # a critic that barely cares
    opts = RefinementOptions(**{**FAST.__dict__, "prototype_weight": 5.0, "sparsity_weight": 0.0})
    res = refine_expression("anger", 1.0, WeightsAsPixels(), critic, options=opts, init=np.full(52, 0.5, np.float32))
    start = np.abs(res.init - res.prototype).sum()
    assert np.abs(res.weights - res.prototype).sum() < 0.5 * start
    opts = RefinementOptions(**{**FAST.__dict__, "sparsity_weight": 5.0})
    res = refine_expression("anger", 1.0, WeightsAsPixels(), critic, options=opts, init=np.full(52, 0.5, np.float32))
    assert (res.weights < 1e-6).sum() > 30  # projected steps leave exact zeros


@pytest.mark.slow
def test_lips_do_not_cross() -> None:
    from generators.speech.visemes import default_lip_model

    lips = default_lip_model()
    # The shapes that lower the upper lip or lift the lower one most: a critic rewarding them crosses the lips.
    sinking = np.argsort(lips.per_shape[..., 1].mean(1))[:3]
    favour = {ARKIT_NAMES[i]: 1.0 for i in sinking}
    offset, per_shape = (torch.as_tensor(a, dtype=torch.float32) for a in (lips.offset, lips.per_shape))

    def min_gap(opts: RefinementOptions) -> float:
        res = refine_expression("anger", 1.0, WeightsAsPixels(), LinearCritic(favour), options=opts, init=np.zeros(52, np.float32),
                                prototype=np.zeros(52, np.float32))
        return float(lip_gap_heights(torch.as_tensor(res.weights)[None], offset, per_shape).min())

    free = min_gap(RefinementOptions(**{**FAST.__dict__, "lip_weight": 0.0}))
    held = min_gap(RefinementOptions(**{**FAST.__dict__, "lip_weight": 200.0}))
    assert free < -0.1  # without the penalty the critic drives the lips through each other
    assert held > -0.03  # with it they stop at (about) touching


def test_seeded_runs_repeat() -> None:
    critic = LinearCritic({"browDownLeft": 1.0})
    opts = RefinementOptions(**{**FAST.__dict__, "photometric_jitter": 0.1, "steps": 5})
    a = refine_expression("anger", 1.0, WeightsAsPixels(), critic, options=opts)
    b = refine_expression("anger", 1.0, WeightsAsPixels(), critic, options=opts, generator=torch.Generator().manual_seed(opts.seed))
    np.testing.assert_array_equal(a.weights, b.weights)


def test_au_space_starts_at_the_facs_pose_for_every_prototype() -> None:
    from avatar.emotion import DEFAULT_PROTOTYPES
    from generators.refinement.space import au_space

    for label, aus in DEFAULT_PROTOTYPES.items():
        if label == "neutral":
            continue
        space = au_space(aus, None, symmetric=True)
        np.testing.assert_allclose(space.to_weights(space.start, 1)[0].numpy(), aus.to_arkit(), atol=1e-6)
        # Only the prototype's own AUs move, gaze (sad's AU64) never; contempt's one-sided AUs stay one-sided.
        assert "AU64" not in space.labels
    assert au_space(DEFAULT_PROTOTYPES["contempt"], None, symmetric=True).labels == ("L12", "R12", "L14", "R14")


@pytest.mark.slow
def test_au_space_moves_whole_muscles_only() -> None:
    # The critic likes eyeSquint and dislikes the smile; anger's AU7 is the only AU carrying eyeSquint.
    critic = LinearCritic({"eyeSquintLeft": 1.0, "eyeSquintRight": 1.0, "mouthSmileLeft": -1.0}, scale=3.0)
    opts = RefinementOptions(**{**FAST.__dict__, "space": "au"})
    res = refine_expression("anger", 0.5, WeightsAsPixels(), critic, options=opts)
    assert res.parameters["AU7"] > 0.25 + 0.2  # AU7 rose from its prototype intensity (0.5 x 0.5)
    np.testing.assert_allclose(res.weights[ARKIT_NAMES.index("eyeSquintLeft")], res.parameters["AU7"], atol=1e-4)
    # Nothing outside anger's AUs moved: the smile (AU12) and every column no anger AU drives stay at 0.
    from avatar.facs import au_to_arkit

    reachable = au_to_arkit({k: 1.0 for k in res.parameters}) > 0
    assert np.all(res.weights[~reachable] == res.prototype[~reachable])
    # Named AUs only: aus= restricts the moving set and rejects the dynamics layer's AUs.
    res = refine_expression("anger", 0.5, WeightsAsPixels(), critic, options=RefinementOptions(**{**opts.__dict__, "aus": ("AU4",)}))
    assert set(res.parameters) == {"AU4"}
    assert res.weights[ARKIT_NAMES.index("eyeSquintLeft")] == pytest.approx(0.25)
    with pytest.raises(AvatarInputError, match="AU45"):
        refine_expression("anger", 0.5, WeightsAsPixels(), critic, options=RefinementOptions(**{**opts.__dict__, "aus": ("AU45",)}))
    with pytest.raises(AvatarInputError, match="space='au'"):
        RefinementOptions(space="arkit", aus=("AU4",)).check()
    with pytest.raises(AvatarInputError, match="space"):
        RefinementOptions(space="muscles").check()
    with pytest.raises(AvatarInputError, match="gradient"):
        RefinementOptions(gradient="guess").check()
    with pytest.raises(AvatarInputError, match="init"):
        refine_expression("anger", 0.5, WeightsAsPixels(), critic, options=opts, init=np.zeros(52, np.float32))


class ThresholdPixels(WeightsAsPixels):
    """A render stand-in with an occlusion-like step: a column shows only once its weight passes 0.5.

    Its autograd gradient is zero everywhere (as a rasteriser's is for a surface it has not yet revealed);
    only differences of what is rendered can see that raising the weight pays.
    """

    def __call__(self, weights, identities, yaws, light):  # noqa: ANN001, ANN204
        images, boxes = super().__call__(weights, identities, yaws, light)
        return (images > 0.5).to(images.dtype) + 0 * images, boxes


@pytest.mark.slow
def test_finite_differences_see_what_autograd_cannot() -> None:
    critic = LinearCritic({"eyeSquintLeft": 1.0, "eyeSquintRight": 1.0}, scale=3.0)
    base = {**FAST.__dict__, "space": "au", "aus": ("AU7",), "fd_step": 0.3, "steps": 15}
    by_autograd = refine_expression("anger", 0.5, ThresholdPixels(), critic, options=RefinementOptions(**{**base, "gradient": "autograd"}))
    by_fd = refine_expression("anger", 0.5, ThresholdPixels(), critic, options=RefinementOptions(**base))  # "auto" -> differences in AU space
    assert by_autograd.parameters["AU7"] == pytest.approx(0.25)  # no gradient: it never moved
    assert by_fd.parameters["AU7"] > 0.5  # it crossed the step, and the critic reads the target better for it
    assert by_fd.history["p_target"][-1] > by_fd.history["p_target"][0]


def test_finite_differences_match_autograd_where_the_render_is_smooth() -> None:
    from generators.refinement.critics import finite_difference_critic
    from generators.refinement.space import au_space
    from avatar.emotion import DEFAULT_PROTOTYPES

    critic = LinearCritic({"eyeSquintLeft": 1.0, "browDownLeft": -0.5, "mouthStretchRight": 0.7}, scale=2.0)
    opts = RefinementOptions(**{**FAST.__dict__, "space": "au", "fd_step": 1e-3, "confident": 0.9999})
    space = au_space(DEFAULT_PROTOTYPES["anger"].scaled(0.5), None, True)
    params = space.start.clone().requires_grad_(True)
    ids, yaws = [1, 2], [0.0, 30.0]
    _, _, fd = finite_difference_critic(space, params, (0.0, 1.0), WeightsAsPixels(), [("c", critic)], EMOTIONS.index("anger"),
                                        (ids, yaws, (0.0, 0.0)), opts.fd_step, opts.photometric_jitter, opts.confident,
                                        torch.Generator().manual_seed(0))
    images, _ = WeightsAsPixels()(space.to_weights(params, 2), ids, yaws, (0.0, 0.0))
    (-critic.log_probs(images)[:, EMOTIONS.index("anger")]).mean().backward()
    np.testing.assert_allclose(fd.numpy(), params.grad.numpy(), atol=2e-3)
    assert params.grad.abs().max() > 0.05  # the comparison is not between two zeros


class DeceptiveLight(WeightsAsPixels):
    """A render stand-in whose front-lit images (the fixed eval views) show the weights negated.

    Under the jittered training lights the critic is pulled toward more squint; under the front light the
    same squint reads as less of the target, so every step makes the pose worse on the eval views.
    """

    def __call__(self, weights, identities, yaws, light):  # noqa: ANN001, ANN204
        images, boxes = super().__call__(weights, identities, yaws, light)
        return (-images if tuple(light) == (0.0, 0.0) else images), boxes


def test_the_best_step_is_kept_not_the_last() -> None:
    critic = LinearCritic({"eyeSquintLeft": 1.0, "eyeSquintRight": 1.0}, scale=3.0)
    opts = RefinementOptions(**{**FAST.__dict__, "steps": 8, "light_jitter": 20.0})
    kept = refine_expression("anger", 0.5, DeceptiveLight(), critic, options=opts)
    last = refine_expression("anger", 0.5, DeceptiveLight(), critic, options=RefinementOptions(**{**opts.__dict__, "keep_best": False}))
    squint = ARKIT_NAMES.index("eyeSquintLeft")
    assert last.weights[squint] > last.init[squint] + 0.2  # the steps did move the pose ...
    assert kept.best_step == 0  # ... but each one read worse on the eval views, so the start is returned
    np.testing.assert_array_equal(kept.weights, kept.init)
    objective = kept.history["objective"]
    assert len(objective) == opts.steps + 1 and objective[0] == min(objective) < objective[-1]
    assert last.best_step == opts.steps and "objective" not in last.history


def test_judged_worse_compares_accuracy_then_p_target() -> None:
    from avatar.app.refine import judged_worse

    before = {"fer2013": {"accuracy": 0.36, "p_target": 0.4}, "face-api": {"accuracy": 0.5, "p_target": 0.5}}
    worse, line = judged_worse(before, {"fer2013": {"accuracy": 0.24, "p_target": 0.5}, "face-api": {"accuracy": 0.5, "p_target": 0.6}})
    assert worse and "fer2013 0.36 -> 0.24" in line and "face-api" not in line.split("fell:")[1]
    assert not judged_worse(before, {"fer2013": {"accuracy": 0.4, "p_target": 0.1}, "face-api": {"accuracy": 0.5, "p_target": 0.1}})[0]
    assert judged_worse(before, {j: {"accuracy": r["accuracy"], "p_target": r["p_target"] - 0.1} for j, r in before.items()})[0]
    assert judged_worse(before, {}) == (False, "no judge read it")


def test_cli_refuses_a_result_that_reads_worse_unless_forced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import avatar.app.refine as facade
    from avatar.app.cli import main

    calls: list[dict] = []

    def fake_refine(emotion, intensity, **kw):  # noqa: ANN001, ANN003, ANN202
        calls.append(kw)
        result = refine_expression(emotion, intensity, WeightsAsPixels(), LinearCritic({"browDownLeft": 1.0}),
                                   options=RefinementOptions(**{**FAST.__dict__, "steps": 1}))
        readings = {"fer2013": {"before": {"accuracy": 0.36, "p_target": 0.4}, "after": {"accuracy": 0.24, "p_target": 0.3}}}
        worse, verdict = facade.judged_worse(*({j: r[k] for j, r in readings.items()} for k in ("before", "after")))
        return facade.RefineOutput(result.target, intensity, result.weights, result, readings, ("fer2013",), (95,), ("front",),
                                   [], worse, verdict)

    shown = repr(fake_refine("sad", 1.0))
    assert "\n" not in shown and "fer2013 0.36->0.24" in shown and "WORSE" in shown and "step " in shown  # print(out) is one line
    calls.clear()
    monkeypatch.setattr(facade, "refine", fake_refine)
    out = tmp_path / "sad.json"
    args = ["refine", "--emotion", "sad", "--views=-40,-20,0,20,40", "--no-progress", "-o", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "reads worse to the judges" in err and "fer2013 0.36 -> 0.24" in err and "--force" in err
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing written, no temp file left
    assert calls[0]["options"].yaws == (-40.0, -20.0, 0.0, 20.0, 40.0)
    assert main([*args, "--force"]) == 0
    assert json.loads(out.read_text())["worse"] is True


def test_defaults_are_the_shipped_recipe() -> None:
    import inspect

    from avatar.app.refine import RENDER_SIZE, build_prototype_table, refine
    from generators.expression import REFINED_TABLE_PATH

    recipe = json.loads(Path(REFINED_TABLE_PATH).read_text())["recipe"]
    opts = RefinementOptions()
    for key in ("steps", "lr", "seed", "batch_size", "space", "symmetric", "confident", "prototype_weight",
                "sparsity_weight", "lip_weight", "photometric_jitter"):
        assert getattr(opts, key) == recipe[key], key
    assert list(opts.identities) == recipe["identities"] and list(opts.yaws) == recipe["yaws"]
    assert RENDER_SIZE == recipe["render_size"]
    assert inspect.signature(build_prototype_table).parameters["size"].default == RENDER_SIZE
    assert inspect.signature(refine).parameters["size"].default == RENDER_SIZE


def test_check_inputs_quote_bad_values() -> None:
    critic = LinearCritic({"browDownLeft": 1.0})
    with pytest.raises(AvatarInputError, match="sleepy"):
        refine_expression("sleepy", 1.0, WeightsAsPixels(), critic, options=FAST)
    with pytest.raises(AvatarInputError, match="-3"):
        refine_expression("anger", 1.0, WeightsAsPixels(), critic, options=RefinementOptions(steps=-3))
    with pytest.raises(AvatarInputError, match="init"):
        refine_expression("anger", 1.0, WeightsAsPixels(), critic, init=np.ones(5))
    with pytest.raises(AvatarInputError, match="log_probs"):
        refine_expression("anger", 1.0, WeightsAsPixels(), object(), options=FAST)


@pytest.mark.slow
def test_refine_sequence_leaves_the_mouth_alone() -> None:
    from avatar.sequence import ExpressionSequence

    rng = np.random.default_rng(0)
    w = rng.uniform(0, 0.5, (20, 52)).astype(np.float32)
    seq = ExpressionSequence(w, fps=10, labels=["neutral"] * 5 + ["anger"] * 15)
    critic = LinearCritic({"browDownLeft": 1.0, "noseSneerLeft": 1.0, "jawOpen": 1.0}, scale=2.0)
    out = refine_sequence(seq, WeightsAsPixels(), critic, options=FAST)
    mouth = [ARKIT_NAMES.index(n) for n in MOUTH_COLUMNS]
    np.testing.assert_array_equal(out.sequence.weights[:, mouth], w[:, mouth])
    np.testing.assert_array_equal(out.sequence.weights[:5], w[:5])  # neutral segment untouched
    brow = ARKIT_NAMES.index("browDownLeft")
    assert out.sequence.weights[12, brow] > w[12, brow] + 0.1
    assert [s["label"] for s in out.segments] == ["anger"]


@pytest.mark.slow
def test_gradients_reach_the_weights_through_the_real_renderer_and_critic() -> None:
    from avatar.app.refine import DifferentiableRender, make_critic
    from generators.expression import facs_weights

    critic = make_critic("fer2013", "cpu")
    with DifferentiableRender(size=64, device="cpu") as render:
        w = torch.tensor(facs_weights("anger", 1.0))[None].repeat(2, 1).requires_grad_(True)
        images, boxes = render(w, [0, 95], [0.0, 35.0], (10.0, 0.0))
        assert images.shape == (2, 3, 64, 64) and boxes.shape == (2, 4)
        critic.log_probs(images, boxes=boxes)[:, EMOTIONS.index("anger")].sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


def test_prototype_tables_select_and_scale() -> None:
    from generators.expression import expression_weights, facs_weights, refined_table, refined_weights

    table = refined_table()
    assert set(table) >= {"anger", "disgust", "sad", "happy", "surprise", "fear"}
    np.testing.assert_allclose(expression_weights("anger", prototypes="refined"), table["anger"], atol=1e-6)
    np.testing.assert_allclose(expression_weights("anger", prototypes="facs"), facs_weights("anger"), atol=1e-6)
    np.testing.assert_array_equal(refined_weights("anger", 0.0), np.zeros(52, np.float32))
    half = refined_weights("anger", 0.5)
    assert np.all((half >= 0) & (half <= 1))
    with pytest.raises(AvatarInputError, match="'mine'"):
        expression_weights("anger", prototypes="mine")


def test_a_candidate_table_is_read_or_refused_in_one_line(tmp_path: Path) -> None:
    from avatar.errors import FileFormatError
    from generators.expression import REFINED_TABLE_PATH, read_prototype_table, refined_table, refined_weights

    table = read_prototype_table(REFINED_TABLE_PATH)
    assert set(table) == set(refined_table())
    halved = {e: w * 0.5 for e, w in table.items()}  # a candidate table: the scaling rule is the shipped one's
    np.testing.assert_allclose(refined_weights("fear", 1.0, halved), halved["fear"], atol=1e-6)
    for text in ("not json", "{}", '{"names": 3, "emotions": {}}'):
        (tmp_path / "t.json").write_text(text)
        with pytest.raises(FileFormatError, match=r"^t\.json: not a prototype table") as info:
            read_prototype_table(tmp_path / "t.json")
        assert "\n" not in str(info.value)


@pytest.mark.slow
def test_shipped_refined_table_reads_better_to_a_held_out_judge_on_unseen_faces() -> None:
    """The shipped table (AU intensities refined against the FER2013-trained critics on identities 101-140, yaw
    -40..40) read by face-api (another network, other training data; it chose nothing) on identities 45, 80 and 95,
    front and three-quarter, GL renders, against the FACS prototypes it was refined from: no optimisation here.
    Measured when it shipped: fear p(fear) 0.48 -> 0.98 (4/6 -> 6/6 read as fear), disgust 0.60 -> 0.76, anger 5/6 both."""
    from avatar.app.refine import make_judge
    from avatar.head import default_head
    from generators.expression import facs_weights, refined_weights
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    judge = make_judge("face-api", "cpu")
    emotions = ("fear", "disgust", "anger")
    p: dict[tuple[str, str], list[np.ndarray]] = {(e, t): [] for e in emotions for t in ("facs", "refined")}
    for ident in (45, 80, 95):
        with GLRenderer(default_head(ident), RendererOptions(width=256, height=256)) as r:
            for e in emotions:
                for table, w in (("facs", facs_weights(e)), ("refined", refined_weights(e))):
                    for view in ("front", "three-quarter"):
                        r.set_camera(view)
                        rec = judge(r.to_torch(r.render(w)[None], "cpu"), boxes=r.face_boxes(w[None]))
                        p[e, table].append(np.asarray(rec.emotion_probs)[0])
    for e in emotions:
        k = EMOTIONS.index(e)
        facs, refined = np.stack(p[e, "facs"]), np.stack(p[e, "refined"])
        assert (np.nanargmax(refined, 1) == k).mean() >= max(0.5, (np.nanargmax(facs, 1) == k).mean()), e
        if e != "anger":  # face-api already reads the FACS anger at p ~0.9 on these faces
            assert refined[:, k].mean() > facs[:, k].mean() + 0.1, e


@pytest.mark.slow
def test_cli_refine_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from avatar.app.cli import main

    out = tmp_path / "anger.json"
    # One step cannot be expected to read better (its p(target) moved 0.43 -> 0.42 after a look change to the hair):
    # --force writes it whatever the judges say; the refusal itself is test_cli_refuses_a_result_that_reads_worse_unless_forced.
    code = main(["refine", "--emotion", "anger", "--steps", "1", "--batch-size", "1", "--size", "64",
                 "--identities", "101", "--views", "0", "--judge", "fer2013", "--judge-identities", "95",
                 "--judge-views", "front", "--judge-size", "96", "--device", "cpu", "-o", str(out), "--no-progress",
                 "--force"])
    assert code == 0
    data = json.loads(out.read_text())
    assert len(data["refined"]["weights"]) == 52 and data["emotion"] == "anger"
    assert set(data["readings"]["fer2013"]) == {"before", "after"}
    assert "fer2013" in capsys.readouterr().out
    # AU space through the real renderer and critic: only anger's own AUs are parameters, and the pose stays
    # inside what those AUs can reach (no shape outside their rows lights up).
    code = main(["refine", "--emotion", "anger", "--space", "au", "--steps", "2", "--batch-size", "1", "--size", "64",
                 "--identities", "101", "--views", "0", "--judges", "", "--device", "cpu", "-o", str(out), "--no-progress"])
    assert code == 0
    second = capsys.readouterr()
    assert "--judges is now --judge" in second.err  # the old spelling still works, with a line
    data = json.loads(out.read_text())
    from avatar.emotion import DEFAULT_PROTOTYPES
    from avatar.facs import au_to_arkit

    assert set(data["refined"]["parameters"]) <= set(DEFAULT_PROTOTYPES["anger"])
    reachable = au_to_arkit(dict.fromkeys(DEFAULT_PROTOTYPES["anger"], 1.0)) > 0
    assert np.all(np.asarray(data["refined"]["weights"])[~reachable] == 0)
    assert "AUs: AU4=" in second.out
    assert main(["refine", "--emotion", "sleepy", "--no-progress"]) == 2


def test_shipped_table_is_v3_with_the_selected_edits_only() -> None:
    """Table v4 is the refinement's table v3 plus the edits chosen in scripts/select_prototype_edits.py (the lids of
    sad, disgust and anger, the smile's upper lip and dimples), and nothing else: every other weight equal."""
    from avatar.head import ARKIT_NAMES as NAMES
    from generators.expression import REFINED_TABLE_PATH, read_prototype_table

    v3 = read_prototype_table(REFINED_TABLE_PATH.parent / "arkit_prototypes_v3.json")
    v4 = read_prototype_table(REFINED_TABLE_PATH)
    added = json.loads(REFINED_TABLE_PATH.read_text())["edits"]["added"]
    assert set(v4) == set(v3) and set(added) == {"sad", "disgust", "anger", "happy"}
    for e in v3:
        expected = v3[e].copy()
        for pair, amount in added.get(e, {}).items():
            for side in ("Left", "Right"):
                expected[NAMES.index(pair + side)] = min(1.0, expected[NAMES.index(pair + side)] + amount)
        np.testing.assert_allclose(v4[e], expected, atol=1e-5)
    assert all(0.1 <= a <= 0.3 for e in ("sad", "disgust", "anger") for a in added[e].values())


def test_sad_disgust_and_anger_narrow_the_eyes_with_their_intensity_and_fear_does_not() -> None:
    """On the posed head the gap between the upper and lower lid (landmarks 37/38 over 41/40, both eyes) shrinks for
    sad, disgust and anger against the same emotion without the lowered lids (table v3), more at intensity 1 than at
    0.6; fear and surprise keep theirs."""
    from avatar.head import default_head
    from generators.expression import REFINED_TABLE_PATH, read_prototype_table, refined_weights

    head = default_head()
    v3 = read_prototype_table(REFINED_TABLE_PATH.parent / "arkit_prototypes_v3.json")
    pairs = [(37, 41), (38, 40), (43, 47), (44, 46)]

    def aperture(w: np.ndarray) -> float:
        v = head.pose(np.asarray(w, np.float32)[None])[0][head.landmarks68]
        return float(np.mean([v[a, 1] - v[b, 1] for a, b in pairs]))

    import avatar

    for e in ("sad", "disgust", "anger"):
        narrowed = [aperture(refined_weights(e, i, v3)) - aperture(avatar.pose(e, i)) for i in (0.6, 1.0)]
        assert 0.05 < narrowed[0] < narrowed[1], (e, narrowed)  # cm (0.1-0.2 shipped): the lids come down, more with intensity
    for e in ("fear", "surprise"):
        assert abs(aperture(refined_weights(e, 1.0, v3)) - aperture(avatar.pose(e, 1.0))) < 1e-6


def test_the_smile_lifts_the_upper_lip_off_the_teeth() -> None:
    """Happy raises the upper lip's middle (AU11) beyond table v3's smile, more at intensity 1 than 0.6, so the upper
    teeth show: the gap between the lips' inner middle points (landmarks 62 over 66) opens and the upper lip rises."""
    import avatar
    from avatar.head import default_head
    from generators.expression import REFINED_TABLE_PATH, read_prototype_table, refined_weights

    head = default_head()
    v3 = read_prototype_table(REFINED_TABLE_PATH.parent / "arkit_prototypes_v3.json")

    def lips(w: np.ndarray) -> tuple[float, float]:
        v = head.pose(np.asarray(w, np.float32)[None])[0][head.landmarks68]
        return float(v[62, 1]), float(v[62, 1] - v[66, 1])

    rise = []
    for i in (0.6, 1.0):
        (up3, gap3), (up4, gap4) = lips(refined_weights("happy", i, v3)), lips(avatar.pose("happy", i))
        assert gap4 > gap3 + 0.04, (i, gap3, gap4)  # cm (0.06 and 0.11 shipped)
        rise.append(up4 - up3)
    assert 0.05 < rise[0] < rise[1], rise  # cm (0.09 and 0.15 shipped)


def test_the_shipped_table_holds_the_edit_script_names_shipped() -> None:
    """scripts/select_prototype_edits.py's SHIPPED variant is what table v4 records and holds: writing it again from
    v3 gives the shipped weights (the table is reproducible from the script)."""
    import importlib.util

    from generators.expression import REFINED_TABLE_PATH, read_prototype_table

    spec = importlib.util.spec_from_file_location("select_prototype_edits",
                                                  Path(__file__).parent.parent / "scripts" / "select_prototype_edits.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    record = json.loads(REFINED_TABLE_PATH.read_text())["edits"]
    assert record["variant"] == mod.SHIPPED and record["added"] == mod.VARIANTS[mod.SHIPPED]
    again = mod.edited(read_prototype_table(mod.SOURCE), mod.VARIANTS[mod.SHIPPED])
    for e, w in read_prototype_table(REFINED_TABLE_PATH).items():
        np.testing.assert_allclose(w, again[e], atol=1e-5)
