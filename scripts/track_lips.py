"""Track a person's lips and jaw in talking-face videos (GRID-style <id>.mpg + <id>.align) into a tracks .npz.

    python scripts/track_lips.py FOLDER --speaker s1 --out tracks.npz [--limit 200] [--wav-dir WAVS [--flac]]
        [--transcript "don't forget a jacket"]

Reads every video of FOLDER (*.mpg, *.flv, *.mp4, *.webm: one speaker's clips with their audio; for GRID the word
alignment <id>.align, whose words become the transcript), finds the face with dlib's HOG detector, places dlib's
68 landmarks (the predictor shipped by the PyPI package face-recognition-models) on every frame and writes the
inner-lip gap and chin-to-nose distance in eye-corner units (`generators.speech.realism.landmark_tracks`).
The transcript is --transcript if given, else the clip's .align, else the sentence its id spells (GRID ids,
CREMA-D's <actor>_<sentence>_<emotion>_<level>); a CREMA-D id also gives the clip's emotion and level, stored
with its tracks (`RealClip.emotion`, `.intensity`).
With --wav-dir it also writes each clip's audio as 16 kHz mono WAV, or 16-bit FLAC with --flac (what
`benchmarks/bench_realism.py` reads).

Licences: dlib (Boost), face-recognition-models (MIT); the 68-point predictor was trained on iBUG 300-W,
whose images are for research use: the tracks it measures are shipped for research/benchmarking, the
predictor itself is not. Needs `pip install emoavatar[track]` (dlib-bin, face-recognition-models).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avatar.errors import AvatarInputError  # noqa: E402
from generators.speech.realism import (  # noqa: E402
    RealClip,
    cremad_id_info,
    grid_clip_files,
    grid_id_transcript,
    landmark_tracks,
    read_grid_align,
    save_clips,
)


def _predictor():  # noqa: ANN202 - dlib objects
    try:
        import dlib
    except ImportError as exc:
        raise AvatarInputError("lip tracking needs dlib: pip install emoavatar[track]") from exc
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise AvatarInputError("lip tracking needs the 68-point predictor: pip install emoavatar[track]")
    model = Path(spec.origin).parent / "models" / "shape_predictor_68_face_landmarks.dat"
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(model)), dlib


def track_video(path: Path, detector, predictor, dlib, max_width: int = 360) -> tuple[np.ndarray, float]:  # noqa: ANN001
    """Return (T, 68, 2) landmarks and the video's fps; frames without a face repeat the last landmarks.

    Frames wider than `max_width` are scaled down first (GRID's 720x576 "high" quality to its 360x288): the
    tracks are ratios of landmark distances, so the scale does not change them, and the detector runs 4x faster.
    """
    import cv2

    cap = cv2.VideoCapture(str(path))
    fps = float(cap.get(cv2.CAP_PROP_FPS)) or 25.0
    out, box, i = [], None, 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if gray.shape[1] > max_width:
            gray = cv2.resize(gray, (max_width, round(gray.shape[0] * max_width / gray.shape[1])), interpolation=cv2.INTER_AREA)
        if box is None or i % 25 == 0:  # the speaker barely moves in GRID: re-detect once a second
            faces = detector(gray, 0)
            if len(faces):
                box = max(faces, key=lambda r: r.width() * r.height())
        if box is None:
            out.append(out[-1] if out else np.full((68, 2), np.nan))
        else:
            shape = predictor(gray, box)
            out.append(np.array([[shape.part(k).x, shape.part(k).y] for k in range(68)], np.float64))
        i += 1
    cap.release()
    lm = np.array(out)
    if not len(lm) or np.isnan(lm).all():
        raise AvatarInputError(f"no face found in {path}; the tracker needs a frontal talking face")
    found = ~np.isnan(lm).any(axis=(1, 2))
    lm[: int(np.argmax(found))] = lm[int(np.argmax(found))]  # frames before the first detection hold its landmarks
    return lm, fps


def write_wav(path: Path, out: Path, rate: int = 16000) -> None:
    """Write the audio of video `path` as 16 kHz mono 16-bit WAV, or FLAC if `out` ends in .flac (atomically)."""
    import imageio_ffmpeg
    import soundfile as sf

    pcm = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(rate),
                          "-f", "s16le", "-"], check=True, capture_output=True).stdout
    x = np.frombuffer(pcm, np.int16)
    tmp = out.with_name(out.name + ".tmp" + out.suffix)
    sf.write(tmp, x, rate, subtype="PCM_16")
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--speaker", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=0, help="track only the first N clips (name order); 0 = all")
    ap.add_argument("--stride", type=int, default=1, help="take every Nth clip (name order) before --limit")
    ap.add_argument("--exclude", default="", help="comma-separated clip ids to skip (e.g. another party's held-out clips)")
    ap.add_argument("--wav-dir", default=None, help="also write each clip's audio here (16 kHz mono)")
    ap.add_argument("--max-width", type=int, default=360,
                    help="scale wider frames down to this width first (GRID's 720 px to 360: 4x faster, same ratios; "
                         "dlib's landmarks are whole pixels, so a small face is measured in coarser steps)")
    ap.add_argument("--flac", action="store_true", help="write the audio as FLAC instead of WAV")
    ap.add_argument("--transcript", default="",
                    help="the words every clip says (for clips without a .align whose id does not spell them)")
    args = ap.parse_args(argv)
    try:
        files = grid_clip_files(args.folder)
        skip = {x.strip() for x in args.exclude.split(",") if x.strip()}
        files = [f for f in files if f.stem not in skip][:: max(1, args.stride)]
        if args.limit:
            files = files[: args.limit]
        detector, predictor, dlib = _predictor()
        clips = []
        for k, f in enumerate(files):
            lm, fps = track_video(f, detector, predictor, dlib, max_width=args.max_width)
            tr = landmark_tracks(lm)
            align = f.with_suffix(".align")
            # Without its .align a GRID clip's id still spells its sentence (`grid_id_transcript`), and a CREMA-D
            # id its sentence, emotion and level.
            cremad = cremad_id_info(f.stem)
            text = (args.transcript.strip() or (read_grid_align(align)[0] if align.is_file() else "")
                    or (cremad[0] if cremad else grid_id_transcript(f.stem)))
            emotion, intensity = cremad[1:] if cremad else ("", float("nan"))
            clips.append(RealClip(f"{args.speaker}/{f.stem}", args.speaker, fps, tr["gap"], tr["jaw"], text, emotion,
                                  intensity))
            if args.wav_dir:
                Path(args.wav_dir).mkdir(parents=True, exist_ok=True)
                write_wav(f, Path(args.wav_dir) / f"{f.stem}{'.flac' if args.flac else '.wav'}")
            print(f"{k + 1}/{len(files)} {f.stem} gap p90 {np.percentile(tr['gap'], 90):.3f}", file=sys.stderr)
        save_clips(args.out, clips)
    except AvatarInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
