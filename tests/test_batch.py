"""`emoavatar batch`: manifest validation (every problem, with line numbers, nothing written), a local pool that
writes outputs that open, a report with scores, failing jobs that do not stop the others, resume after SIGKILL,
and the Ray backend on a local cluster."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from avatar.app.batch.manifest import STATE_DIR, ManifestError, read_manifest
from avatar.app.cli import main

pytestmark = [pytest.mark.gl, pytest.mark.speech]

ROOT = Path(__file__).resolve().parents[1]


def write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def leftovers(root: Path) -> list[Path]:
    """Return temp files (`.name.XXXX.part.ext`) anywhere under `root`."""
    return [p for p in root.rglob("*") if ".part" in p.name]


# ------------------------------------------------------------------------------------ validation

BAD_LINES: list[tuple[dict | str, str]] = [
    ({"emotion": "happy", "output": "a.png", "colour": "red"}, "unknown key 'colour'"),
    ({"emotion": "happy", "output": "a.png", "emotions": "sad"}, "did you mean 'emotion'"),
    ({"emotion": "sleepy", "output": "b.png"}, "sleepy"),
    ({"aus": "AU99=0.5", "output": "c.png"}, "AU99"),
    ({"aus": "AU1=2", "output": "c2.png"}, "AU1"),
    ({"emotion": "happy", "output": "/tmp/abs.png"}, "absolute"),
    ({"emotion": "happy", "output": "../escape.png"}, "escapes the output folder"),
    ({"emotion": "happy", "output": "x/../../escape.png"}, "escapes the output folder"),
    ({"audio": "missing.wav", "output": "d.mp4"}, "missing.wav"),
    ({"emotion": "happy", "intensity": 1.5, "output": "e.png"}, "1.5"),
    ({"emotion": "happy", "intensity": "lots", "output": "e2.png"}, "lots"),
    ({"emotion": "happy", "size": 5, "output": "f.png"}, "size"),
    ({"emotion": "happy", "fps": 0, "output": "g.mp4"}, "fps"),
    ({"emotion": "happy", "output": "h.avi"}, ".avi"),
    ({"emotion": "happy", "output": "i.png", "export": ["i.doc"]}, ".doc"),
    ({"emotion": "happy", "output": "j.png", "export": "j.csv;k.csv"}, "j.csv;k.csv"),
    ({"text": "hello", "output": "k.mp4"}, "text without audio"),
    ({"emotion": "happy", "view": "sideways", "output": "l.png"}, "sideways"),
    ({"emotion": "happy", "view": "front", "yaw": 20, "output": "m.png"}, "view or yaw"),
    ({"emotion": "happy", "identity": -1, "output": "n.png"}, "identity"),
    ({"emotion": "happy", "seed": "x", "output": "o.mp4"}, "seed"),
    ({"emotion": "happy", "duration": 0, "output": "p.mp4"}, "duration"),
    ({"emotion": "happy", "aus": "AU1=0.5", "output": "q.png"}, "only one of"),
    ({"emotion": "happy"}, "no output"),
    ({"emotion_track": "0:neutral,1:grumpy", "output": "r.mp4"}, "grumpy"),
    ({"va": [2, 0], "output": "s.png"}, "valence"),
    ('{"emotion": "happy", "output": ', "not JSON"),
    ("[1, 2]", "JSON object"),
    ({"emotion": "happy", "output": ".emoavatar-batch/t.png"}, STATE_DIR),
]


def test_every_bad_line_is_reported_with_its_line_number_and_nothing_is_written(tmp_path: Path,
                                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    good = {"emotion": "happy", "size": 64, "output": "ok.png"}
    rows: list[dict | str] = [good]
    for bad, _ in BAD_LINES:
        rows.append(bad)
    manifest = write_jsonl(tmp_path / "jobs.jsonl", rows)
    out = tmp_path / "out"
    with pytest.raises(ManifestError) as info:
        read_manifest(manifest)
    problems = info.value.problems
    for i, (_, needle) in enumerate(BAD_LINES):
        line = i + 2
        mine = [p for p in problems if p.startswith(f"jobs.jsonl line {line}:")]
        assert len(mine) == 1, (line, needle, problems)
        assert needle in mine[0], (needle, mine[0])
    code, _, err = run(capsys, "batch", str(manifest), "-o", str(out), "--no-progress")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == len(BAD_LINES) + 1 and all(ln.startswith("emoavatar: error: jobs.jsonl line ") for ln in lines[:-1])
    assert "nothing was run" in lines[-1]
    assert not out.exists()  # not even the output folder


def test_duplicate_ids_and_outputs_name_both_lines(tmp_path: Path) -> None:
    manifest = write_jsonl(tmp_path / "jobs.jsonl", [
        {"id": "a", "emotion": "happy", "output": "a.png"},
        {"id": "a", "emotion": "sad", "output": "b.png"},
        {"id": "c", "emotion": "sad", "output": "a.png"},
    ])
    with pytest.raises(ManifestError) as info:
        read_manifest(manifest)
    text = "\n".join(info.value.problems)
    assert "line 2: id 'a' is already used on line 1" in text and "line 3: 'a.png' is also written by line 1" in text


def test_csv_manifest_with_the_same_columns(tmp_path: Path) -> None:
    (tmp_path / "jobs.csv").write_text(
        "id,emotion,intensity,aus,va,size,duration,output,export\n"
        "a,joy,0.5,,,64,0.5,a.mp4,a.csv;a.npz\n"
        "b,,,\"AU1=0.6,AU4=0.8\",,64,,b.png,\n"
        "c,,,,\"0.8,0.5\",64,,c.png,\n"
        "d,angry,2,,,64,,d.png,\n")
    with pytest.raises(ManifestError) as info:
        read_manifest(tmp_path / "jobs.csv")
    assert len(info.value.problems) == 1 and info.value.problems[0].startswith("jobs.csv line 5:")
    lines = (tmp_path / "jobs.csv").read_text().splitlines()[:-1]
    (tmp_path / "jobs.csv").write_text("\n".join(lines) + "\n")
    jobs = read_manifest(tmp_path / "jobs.csv")
    assert [j.id for j in jobs] == ["a", "b", "c"]
    assert jobs[0].emotion == "happy" and jobs[0].intensity == 0.5 and jobs[0].exports == ("a.csv", "a.npz")
    assert jobs[1].aus == {"AU1": 0.6, "AU4": 0.8} and jobs[2].va == (0.8, 0.5)


@pytest.mark.slow
def test_cavity_key_and_flag_render_without_cavity_shading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A line's "cavity": false (JSON or a CSV cell) and `--no-cavity` render the still the shading switch gives;
    a value that is not a boolean is named with its line."""
    from PIL import Image

    import avatar
    from avatar.appearance import Appearance
    from generators.expression import expression_weights

    (tmp_path / "jobs.csv").write_text("emotion,size,cavity,output\nhappy,64,false,a.png\nhappy,64,true,b.png\nhappy,64,maybe,c.png\n")
    with pytest.raises(ManifestError) as info:
        read_manifest(tmp_path / "jobs.csv")
    assert info.value.problems == ["jobs.csv line 4: cavity must be true or false, got 'maybe'"]
    jobs = write_jsonl(tmp_path / "jobs.jsonl", [{"emotion": "happy", "size": 64, "cavity": False, "output": "a.png"},
                                                 {"emotion": "happy", "size": 64, "output": "b.png"}])
    a, b = read_manifest(jobs)
    assert (a.cavity, b.cavity) == (False, True) and a.digest() != b.digest()
    code, _, _ = run(capsys, "batch", str(jobs), "-o", str(tmp_path / "out"), "--no-score", "--no-progress")
    assert code == 0
    w = expression_weights("happy")  # a line's emotion goes through the default prototype table
    plain = avatar.render(w, width=64, height=64, appearance=Appearance(cavity=False))
    shaded = avatar.render(w, width=64, height=64)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "a.png").convert("RGB")), plain)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "b.png").convert("RGB")), shaded)
    code, _, _ = run(capsys, "batch", str(jobs), "-o", str(tmp_path / "out2"), "--no-score", "--no-progress", "--no-cavity")
    assert code == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out2" / "b.png").convert("RGB")), plain)


# ------------------------------------------------------------------------------------ running


def _check_outputs(out: Path) -> None:
    import imageio.v3 as iio
    from PIL import Image

    from avatar.sequence import ExpressionSequence

    assert len(list(iio.imiter(out / "clips" / "happy.mp4"))) == 15  # 0.5 s at 30 fps
    assert np.asarray(Image.open(out / "stills" / "sad.png")).shape == (64, 64, 3)
    gif = Image.open(out / "anger.gif")
    assert gif.n_frames == 10
    seq = ExpressionSequence.load(out / "clips" / "happy.csv")
    assert len(seq) == 15 and seq.fps == 30
    glb = (out / "clips" / "happy.glb").read_bytes()
    assert glb[:4] == b"glTF" and len(glb) > 100_000


@pytest.mark.slow
def test_local_pool_writes_every_output_and_a_report_then_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = write_jsonl(tmp_path / "jobs.jsonl", [
        {"id": "happy", "emotion": "happy", "size": 64, "duration": 0.5, "output": "clips/happy.mp4",
         "export": ["clips/happy.csv", "clips/happy.glb"]},
        {"id": "sad", "aus": "AU1=0.6,AU4=0.8,AU15=0.7", "size": 64, "view": "three-quarter", "output": "stills/sad.png"},
        {"id": "anger", "emotion_track": "0:neutral,0.2:anger@0.9", "size": 48, "fps": 20, "duration": 0.5, "output": "anger.gif"},
        {"id": "broken", "audio": "junk.wav", "output": "broken.mp4"},
    ])
    (tmp_path / "junk.wav").write_text("not audio")
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "batch", str(manifest), "-o", str(out), "--workers", "2", "--no-progress")
    assert code == 1, err  # one job failed
    assert "job 'broken' (line 4) failed" in err
    assert "3 done, 0 skipped" in stdout and "1 failed" in stdout
    _check_outputs(out)
    report = json.loads((out / "batch_report.json").read_text())
    jobs = {j["id"]: j for j in report["jobs"]}
    assert jobs["happy"]["status"] == "ok" and jobs["broken"]["status"] == "failed" and jobs["broken"]["error"]
    assert jobs["happy"]["score"]["judge"] and jobs["happy"]["score"]["expected"] == "happy"
    assert 0.0 <= jobs["happy"]["score"]["accuracy"] <= 1.0 and jobs["happy"]["score"]["n"] == 15
    assert jobs["sad"]["score"] is None  # raw AUs carry no emotion to score against
    csv_lines = (out / "batch_report.csv").read_text().splitlines()
    assert csv_lines[0].startswith("id,line,status,seconds,outputs,judge") and len(csv_lines) == 5
    assert not leftovers(out)
    # A rerun skips the finished jobs and retries only the failed one.
    code, stdout, err = run(capsys, "batch", str(manifest), "-o", str(out), "--no-progress")
    assert code == 1 and "skipped 3 of 4 jobs" in err and "0 done, 3 skipped" in stdout
    # A changed job is not "finished": its record belongs to another spec.
    rows = [json.loads(ln) for ln in manifest.read_text().splitlines()][:3]
    rows[1]["view"] = "front"
    write_jsonl(manifest, rows)
    code, stdout, _ = run(capsys, "batch", str(manifest), "-o", str(out), "--no-progress", "--no-score")
    assert code == 0 and "1 done, 2 skipped" in stdout


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path: Path) -> None:
    rows = [{"id": f"job{i}", "emotion": ["happy", "sad", "anger"][i % 3], "size": 64, "duration": 1.0, "output": f"clip{i}.mp4",
             "export": [f"clip{i}.csv"]} for i in range(6)]
    manifest = write_jsonl(tmp_path / "jobs.jsonl", rows)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "avatar", "batch", str(manifest), "-o", str(out), "--workers", "1", "--no-progress", "--no-score"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done_dir = out / STATE_DIR / "done"
    deadline = time.time() + 120
    while time.time() < deadline and not (done_dir.is_dir() and any(p.suffix == ".json" and not p.name.startswith(".") for p in done_dir.iterdir())):
        time.sleep(0.05)
    first_done = time.perf_counter() - t0
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.5)  # the orphaned worker notices its parent is gone and exits
    finished = [p for p in done_dir.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
    assert 1 <= len(finished) < 6, f"killed after {first_done:.1f} s with {len(finished)} finished"
    t1 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    rerun = time.perf_counter() - t1
    assert r.returncode == 0, r.stderr
    skipped = int(r.stderr.split("skipped ", 1)[1].split(" ", 1)[0])
    assert skipped >= len(finished), r.stderr
    assert f"{6 - skipped} done, {skipped} skipped" in r.stdout
    assert not leftovers(out)
    import imageio.v3 as iio

    for i in range(6):
        assert len(list(iio.imiter(out / f"clip{i}.mp4"))) == 30
    print(f"\nkill-and-resume: first job finished {first_done:.1f} s after start; {len(finished)} finished at the kill; "
          f"rerun skipped {skipped}, ran {6 - skipped} in {rerun:.1f} s")


@pytest.mark.slow
@pytest.mark.ray
def test_ray_backend_on_a_local_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ray")
    manifest = write_jsonl(tmp_path / "jobs.jsonl", [
        {"id": "a", "emotion": "happy", "size": 64, "duration": 0.5, "output": "a.mp4", "export": ["a.npz"]},
        {"id": "b", "emotion": "surprise", "size": 64, "output": "b.png"},
    ])
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "batch", str(manifest), "-o", str(out), "--backend", "ray", "--workers", "2", "--no-progress")
    assert code == 0, err
    assert "2 done" in stdout
    report = json.loads((out / "batch_report.json").read_text())
    assert report["backend"] == "ray" and all(j["status"] == "ok" for j in report["jobs"])
    assert (out / "a.mp4").is_file() and (out / "b.png").is_file() and not leftovers(out)
    code, stdout, err = run(capsys, "batch", str(manifest), "-o", str(out), "--backend", "ray", "--no-progress")
    assert code == 0 and "0 done, 2 skipped" in stdout


@pytest.mark.slow
def test_every_look_option_is_a_manifest_key_with_the_cli_meaning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """skin, eyes, background, the shading switches, view (preset or yaw), identity, prototypes and judge: each line's
    still equals `avatar.render` with the same options; bad values are named with their line."""
    from PIL import Image

    import avatar
    from avatar.appearance import Appearance

    line = {"emotion": "sad", "size": 64, "skin": "dark", "eyes": "blue", "background": "#00b140", "wrinkles": False,
            "mouth_shadow": True, "catch_lights": True, "teeth_shade": False, "view": "yaw=20", "identity": "7",
            "prototypes": "facs", "judge": "face-api", "output": "a.png"}
    jobs = write_jsonl(tmp_path / "jobs.jsonl", [line, {"emotion": "sad", "size": 64, "view": 20, "output": "b.png"}])
    a, b = read_manifest(jobs)
    assert (a.skin, a.eyes, a.wrinkles, a.mouth_shadow, a.catch_lights, a.cavity) == ("dark", "blue", False, True, True, True)
    assert a.background == pytest.approx((0.0, 0xB1 / 255, 0x40 / 255)) and a.view == 20.0 == b.view and a.identity == 7
    assert (a.prototypes, a.judge) == ("facs", "face-api")
    assert (a.teeth_shade, b.teeth_shade) == (False, True), "a line turns the teeth shade off; it is on by default"
    bad = write_jsonl(tmp_path / "bad.jsonl", [
        {"emotion": "sad", "skin": "plaid", "output": "a.png"},
        {"emotion": "sad", "identity": "7.9", "output": "b.png"},
        {"emotion": "sad", "view": "sideways", "output": "c.png"},
        {"emotion": "sad", "judge": "fer2031", "output": "d.png"},
        {"emotion": "sad", "background": "transparent", "output": "e.mp4"},
        {"emotion": "sad", "prototypes": "mine", "output": "f.png"},
    ])
    with pytest.raises(ManifestError) as info:
        read_manifest(bad)
    p = info.value.problems
    assert len(p) == 6 and [s.split(":", 1)[0] for s in p] == [f"bad.jsonl line {n}" for n in range(1, 7)]
    for problem, needle in zip(p, ("skin tone 'plaid'", "'7.9' is not a whole number", "unknown view 'sideways'",
                                   "did you mean 'fer2013'", "transparent background needs a .png", "prototypes 'mine'")):
        assert needle in problem, problem
    code, _, _ = run(capsys, "batch", str(jobs), "-o", str(tmp_path / "out"), "--no-score", "--no-progress")
    assert code == 0
    look = Appearance(wrinkles=False, mouth_shadow=True, catch_lights=True, teeth_shade=False)
    want = avatar.render(avatar.pose(emotion="sad", prototypes="facs"), width=64, height=64, skin="dark", eyes="blue",
                         background=a.background, view="yaw=20", identity=7, appearance=look)
    got = np.asarray(Image.open(tmp_path / "out" / "a.png").convert("RGB"))
    assert np.array_equal(got, want)
    default_look = np.asarray(Image.open(tmp_path / "out" / "b.png").convert("RGB"))
    assert np.abs(got.astype(int) - default_look.astype(int)).mean() > 5  # the options changed the picture
