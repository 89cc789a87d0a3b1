"""Returns the jobs of a batch manifest (JSON Lines or CSV), every line validated before any work starts.

One job per line. Keys (all optional but `output`):

| key | meaning |
|---|---|
| id | the job's name in the report (default: its output path); unique |
| audio | speech audio (relative to the manifest's folder, or absolute); makes a talking head |
| text | the words spoken (with audio) |
| emotion, intensity | an emotion label (synonyms accepted) and its 0..1 strength |
| emotion_track | timed emotions, "0:neutral,1.5:anger@0.9" |
| aus | FACS action units, "AU1=0.6,AU4=0.8" or {"AU1": 0.6} (without audio) |
| va | valence, arousal in -1..1: [0.8, 0.5] or "0.8,0.5" |
| identity | face identity seed (0 = generic head) |
| brow_lowerer | strength 0..2 of the corrective AU4 brow lowerer on the head's browDown (0 = ICT's own shapes; default 1, `avatar.brow_lowerer.BROW_LOWERER`) |
| view or yaw | camera view: a preset (front, three-quarter, profile) or a yaw in degrees (20, "yaw=20"); yaw: degrees |
| skin | skin tone: light, medium, tan, brown, dark (default medium) |
| eyes | eye colour: brown, blue, green, hazel, grey (default brown) |
| background | "#rrggbb", "r,g,b" in 0..1, [r, g, b], a name, or "transparent" (.png only; default light grey) |
| cavity, wrinkles | false: no cavity shading (~17 % faster frames on a CPU rasterizer) / no expression lines (default true) |
| mouth_interior, eye_detail | true: the mouth's inside lit through the lips' opening / iris detail, a dark pupil, the lids' wet line (default false) |
| mouth_shadow, catch_lights | true: darken an open mouth with depth / a highlight on each cornea (default false) |
| teeth_shade | false: the teeth lit evenly instead of in the shade of the lips' opening, frame by frame (default true) |
| prototypes | the emotion table posed: facs or refined (default: the toolkit's default) |
| judge | the recognizer that grades this job's clip (default: the batch's --judge) |
| size | square render size in pixels (default 512) |
| fps | frame rate (default 30) |
| duration | seconds, for jobs without audio (default 3 for videos) |
| seed | seed of blinks, gaze and head motion (with audio) |
| output | a path relative to the output folder; its suffix picks the format |
| export | a list of further outputs (CSV: separated by ";") |

Each value is checked by the rule that owns it (`avatar.validation`, `avatar.emotion`, `avatar.facs`,
`generators.expression`, the camera presets), so the batch says what `emoavatar render` would say.
Every problem of every line is collected; `ManifestError` carries them all, each naming its line.
Nothing is written while reading a manifest.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from avatar.appearance import TEETH_SHADE_DEFAULT
from avatar.constants import DEFAULT_BACKGROUND, DEFAULT_FPS
from avatar.errors import AvatarInputError

KEYS: tuple[str, ...] = ("id", "audio", "text", "emotion", "intensity", "emotion_track", "aus", "va", "identity",
                         "brow_lowerer", "view", "yaw", "skin", "eyes", "background", "cavity", "wrinkles", "mouth_shadow", "catch_lights",
                         "mouth_interior", "eye_detail", "teeth_shade", "prototypes", "judge", "size", "fps", "duration", "seed", "output", "export")
"""The keys a manifest line may carry; any other key is an error."""

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".gif")
IMAGE_SUFFIXES: tuple[str, ...] = (".png",)
SEQUENCE_SUFFIXES: tuple[str, ...] = (".csv", ".glb", ".npz", ".json")
OUTPUT_SUFFIXES: tuple[str, ...] = VIDEO_SUFFIXES + IMAGE_SUFFIXES + SEQUENCE_SUFFIXES
"""Output formats a job can write, picked by the suffix of `output` and each `export`."""

DEFAULT_SIZE = 512
DEFAULT_CLIP_S = 3.0
"""Length of a clip without audio when the line gives no duration (seconds)."""


class ManifestError(AvatarInputError):
    """A manifest with problems; `problems` lists every one as 'FILE line N: ...' (str() gives the first and a count)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}" if problems else "bad manifest")


@dataclass(frozen=True)
class Job:
    """One validated job: what to make (canonical values, defaults filled in) and where to write it.

    `output` and `exports` are POSIX paths relative to the output folder; `audio` is absolute.
    """

    line: int
    id: str
    output: str
    exports: tuple[str, ...] = ()
    audio: str | None = None
    text: str | None = None
    emotion: str | None = None
    intensity: float = 1.0
    emotion_track: str | None = None
    aus: dict[str, float] | None = None
    va: tuple[float, float] | None = None
    identity: int | None = None
    brow_lowerer: float | None = None
    view: str | float | None = None
    yaw: float | None = None
    size: int = DEFAULT_SIZE
    fps: float = DEFAULT_FPS
    duration: float | None = None
    seed: int = 0
    skin: str | tuple[float, float, float] = "medium"
    eyes: str | tuple[float, float, float] = "brown"
    background: tuple[float, float, float] | None = DEFAULT_BACKGROUND
    cavity: bool = True
    wrinkles: bool = True
    mouth_shadow: bool = False
    catch_lights: bool = False
    mouth_interior: bool = False
    eye_detail: bool = False
    teeth_shade: bool = TEETH_SHADE_DEFAULT
    prototypes: str | None = None
    judge: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def outputs(self) -> tuple[str, ...]:
        """Return every path the job writes (the output first), relative to the output folder."""
        return (self.output, *self.exports)

    def spec(self) -> dict[str, Any]:
        """Return the job as a JSON-able dict (what a worker process or a Ray task receives)."""
        d = asdict(self)
        d.pop("extra")
        return d

    def digest(self) -> str:
        """Return a hash of everything that shapes the outputs (a finished record for another spec is stale)."""
        d = self.spec()
        d.pop("line")
        if d["brow_lowerer"] is None:
            d.pop("brow_lowerer")  # a line without the key keeps the digest it had before the key existed
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Job:
        """Return the Job a `spec()` dict describes."""
        d = dict(spec)
        d["exports"] = tuple(d.get("exports") or ())
        for key in ("va", "skin", "eyes", "background"):  # JSON turned tuples into lists
            if isinstance(d.get(key), list):
                d[key] = tuple(d[key])
        return cls(**d)


# ------------------------------------------------------------------------------------------ reading


def _rows(path: Path) -> tuple[list[tuple[int, Any]], list[str]]:
    """Return ((line, raw dict or parse problem), problems) of a .jsonl or .csv manifest; blank lines are skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise AvatarInputError(f"cannot read manifest {str(path)!r} ({type(e).__name__}): give a .jsonl or .csv file") from None
    rows: list[tuple[int, Any]] = []
    problems: list[str] = []
    if path.suffix.lower() == ".csv":
        reader = csv.reader(io.StringIO(text))
        try:
            records = [(reader.line_num, r) for r in reader]
        except csv.Error as e:
            raise AvatarInputError(f"{path.name} line {reader.line_num}: {e}") from None
        records = [(n, r) for n, r in records if any(c.strip() for c in r)]
        if not records:
            return rows, problems
        header = [c.strip() for c in records[0][1]]
        for n, r in records[1:]:
            if len(r) != len(header):
                problems.append(f"{path.name} line {n}: {len(r)} cells but the header has {len(header)}")
                continue
            # An empty cell is an absent key, so one CSV can mix jobs of different kinds.
            rows.append((n, {k: _csv_value(k, v) for k, v in zip(header, r) if v.strip()}))
        return rows, problems
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            rows.append((n, json.loads(line)))
        except json.JSONDecodeError as e:
            problems.append(f"{path.name} line {n}: not JSON ({e.msg} at column {e.colno}); write one JSON object per line")
    return rows, problems


def _csv_value(key: str, text: str) -> Any:
    """Return a CSV cell as the manifest value it stands for (exports split on ';', JSON lists read as lists)."""
    t = text.strip()
    if key == "export":
        if t.startswith("["):
            try:
                return json.loads(t)
            except json.JSONDecodeError:
                return t
        return [p.strip() for p in t.split(";") if p.strip()]
    return t


def _relative_output(value: Any, what: str) -> str:
    """Return `value` as a normalised POSIX path relative to the output folder, or raise naming `what`."""
    if not isinstance(value, str) or not value.strip():
        raise AvatarInputError(f"{what} must be a relative file path such as clips/a.mp4, got {value!r}")
    raw = value.strip()
    if Path(raw).is_absolute() or PurePosixPath(raw).is_absolute() or raw.startswith("~"):
        raise AvatarInputError(f"{what} {raw!r} is absolute: give a path relative to the output folder")
    parts: list[str] = []
    for part in PurePosixPath(raw.replace("\\", "/")).parts:
        if part == "..":
            if not parts:
                raise AvatarInputError(f"{what} {raw!r} escapes the output folder: use a path inside it")
            parts.pop()
        elif part != ".":
            parts.append(part)
    if not parts:
        raise AvatarInputError(f"{what} {raw!r} names no file: give a file name such as a.mp4")
    suffix = PurePosixPath(parts[-1]).suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise AvatarInputError(f"{what} {raw!r} has an unsupported type: use one of {', '.join(OUTPUT_SUFFIXES)}")
    if parts[0] == STATE_DIR:
        raise AvatarInputError(f"{what} {raw!r} is inside {STATE_DIR}/, the batch's own records: choose another folder")
    return "/".join(parts)


STATE_DIR = ".emoavatar-batch"
"""Folder inside the output folder that holds the completion records (one per finished job)."""


def _number(value: Any, what: str) -> float:
    """Return `value` as a finite float, or raise naming `what`."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(value, bool) or not math.isfinite(x):
        raise AvatarInputError(f"{what} must be a number, got {value!r}")
    return x


def _flag(value: Any, what: str) -> bool:
    """Return a JSON boolean, or a CSV cell true/false/yes/no/1/0, as a bool; raise naming `what` otherwise."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise AvatarInputError(f"{what} must be true or false, got {value!r}")


def _job(raw: Any, line: int, base: Path) -> Job:
    """Return the validated Job of one manifest line, or raise the first problem (the caller collects them)."""
    from avatar.emotion import Emotion, normalize_emotion
    from avatar.facs import ActionUnits
    from avatar.validation import check_fps, check_range, check_seed, check_signed_unit, check_size, check_unit
    from generators.expression import Keyframe, parse_emotion_track
    from generators.speech.audio import MAX_SECONDS
    from avatar.validation import parse_colour, parse_identities
    from avatar.views import parse_view

    if not isinstance(raw, dict):
        raise AvatarInputError(f"a line must be a JSON object such as {{\"emotion\": \"happy\", \"output\": \"a.png\"}}, got {type(raw).__name__}")
    unknown = [k for k in raw if k not in KEYS]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(str(k), KEYS, n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise AvatarInputError(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(hints)}: use {', '.join(KEYS)}")
    if "output" not in raw:
        raise AvatarInputError("no output: give \"output\", a path relative to the output folder, e.g. \"clips/a.mp4\"")
    kw: dict[str, Any] = {"line": line, "output": _relative_output(raw["output"], "output")}
    exports = raw.get("export", [])
    if not isinstance(exports, list):
        raise AvatarInputError(f"export must be a list of relative paths such as [\"a.csv\", \"a.glb\"], got {exports!r}")
    kw["exports"] = tuple(_relative_output(e, "export") for e in exports)
    if len(set(kw["exports"]) | {kw["output"]}) != len(kw["exports"]) + 1:
        raise AvatarInputError("the same path is given twice in output/export: give each output once")
    kw["id"] = str(raw.get("id", kw["output"])).strip() or kw["output"]
    if "audio" in raw:
        audio = raw["audio"]
        if not isinstance(audio, str) or not audio.strip():
            raise AvatarInputError(f"audio must be a file path, got {audio!r}")
        p = Path(audio).expanduser()
        p = p if p.is_absolute() else base / p
        if not p.is_file():
            raise AvatarInputError(f"audio file {audio!r} not found (relative paths are read from the manifest's folder {str(base)!r})")
        kw["audio"] = str(p.resolve())
    if "text" in raw:
        if "audio" not in raw:
            raise AvatarInputError("text without audio: the transcript goes with an audio file")
        if not isinstance(raw["text"], str):
            raise AvatarInputError(f"text must be the words spoken, got {raw['text']!r}")
        kw["text"] = raw["text"]
    conditions = [k for k in ("emotion", "emotion_track", "aus", "va") if k in raw]
    if len(conditions) > 1:
        raise AvatarInputError(f"give only one of emotion, emotion_track, aus or va; got {' and '.join(conditions)}")
    if "intensity" in raw:
        kw["intensity"] = check_unit(raw["intensity"], "intensity")
    if "emotion" in raw:
        kw["emotion"] = normalize_emotion(raw["emotion"])
    if "emotion_track" in raw:
        parse_emotion_track(raw["emotion_track"])
        kw["emotion_track"] = raw["emotion_track"]
    if "aus" in raw:
        if "audio" in raw:
            raise AvatarInputError("aus with audio: a talking head takes emotion, va or emotion_track")
        kw["aus"] = ActionUnits.coerce(raw["aus"]).to_dict()
    if "va" in raw:
        va = raw["va"]
        if isinstance(va, str):
            parts = [x for x in va.split(",") if x.strip()]
            va = parts
        if not isinstance(va, (list, tuple)) or len(va) != 2:
            raise AvatarInputError(f"va must be [valence, arousal] in -1..1, e.g. [0.8, 0.5], got {raw['va']!r}")
        kw["va"] = (check_signed_unit(va[0], "valence"), check_signed_unit(va[1], "arousal"))
        Emotion(valence=kw["va"][0], arousal=kw["va"][1])
    # The keyframe is the one place that knows whether a condition (and its intensity) makes a pose.
    Keyframe(0.0, emotion=kw.get("emotion"), aus=kw.get("aus"), va=kw.get("va"), intensity=kw.get("intensity", 1.0))
    if "identity" in raw:
        seeds = parse_identities(raw["identity"], "identity")
        if len(seeds) != 1:
            raise AvatarInputError(f"identity {raw['identity']!r} names {len(seeds)} seeds: give one seed per job")
        kw["identity"] = seeds[0]
    if "brow_lowerer" in raw:
        from avatar.brow_lowerer import check_brow_lowerer

        kw["brow_lowerer"] = check_brow_lowerer(_number(raw["brow_lowerer"], "brow_lowerer"))
    if "view" in raw and "yaw" in raw:
        raise AvatarInputError("give view or yaw, not both")
    if "view" in raw:
        kw["view"] = parse_view(raw["view"])
    if "yaw" in raw:
        kw["yaw"] = check_range(_number(raw["yaw"], "yaw"), "yaw", -180.0, 180.0)
    if "skin" in raw or "eyes" in raw:
        from avatar.appearance import EYE_COLOURS, skin_albedo

        if "skin" in raw:
            skin = raw["skin"]
            skin_albedo(tuple(skin) if isinstance(skin, list) else skin)  # one-line error naming the tones
            kw["skin"] = tuple(float(v) for v in skin) if isinstance(skin, list) else skin
        if "eyes" in raw:
            eyes = raw["eyes"]
            if isinstance(eyes, str) and eyes not in EYE_COLOURS:
                raise AvatarInputError(f"unknown eye colour {eyes!r}: use one of {', '.join(EYE_COLOURS)}")
            kw["eyes"] = tuple(float(v) for v in parse_colour(eyes, "eyes")) if not isinstance(eyes, str) else eyes
    if "background" in raw:
        kw["background"] = parse_colour(raw["background"], "background")
        if kw["background"] is None and any(PurePosixPath(o).suffix.lower() != ".png" for o in (kw["output"], *kw["exports"])
                                            if PurePosixPath(o).suffix.lower() in VIDEO_SUFFIXES):
            raise AvatarInputError("a transparent background needs a .png output: videos have no alpha; use a colour")
    for key in ("cavity", "wrinkles", "mouth_shadow", "catch_lights", "mouth_interior", "eye_detail", "teeth_shade"):
        if key in raw:
            kw[key] = _flag(raw[key], key)
    if "prototypes" in raw:
        from avatar.validation import check_choice
        from generators.expression import PROTOTYPE_TABLES

        if "emotion" not in raw and "emotion_track" not in raw:
            raise AvatarInputError("prototypes picks the table an emotion is posed from: give emotion or emotion_track too")
        if "audio" in raw:
            raise AvatarInputError("prototypes with audio: a talking head poses the speech model's emotion; leave prototypes out")
        kw["prototypes"] = check_choice(raw["prototypes"], tuple(PROTOTYPE_TABLES), "prototypes")
    if "judge" in raw:
        from avatar.app.judges import judge_name

        kw["judge"] = judge_name(raw["judge"])
    if "size" in raw:
        kw["size"] = check_size(raw["size"])[0]
    if "fps" in raw:
        kw["fps"] = check_fps(raw["fps"])
    if "duration" in raw:
        if "audio" in raw:
            raise AvatarInputError("duration with audio: the audio sets the length; leave duration out")
        kw["duration"] = check_range(_number(raw["duration"], "duration"), "duration (seconds)", 1e-3, MAX_SECONDS)
    if "seed" in raw:
        kw["seed"] = check_seed(raw["seed"])
    return Job(**kw)


def read_manifest(path: str | os.PathLike) -> list[Job]:
    """Return every job of a .jsonl (or .csv) manifest, validated; raise ManifestError listing every problem.

    Problems are collected over all lines (bad JSON, unknown keys, bad values, missing audio, paths that
    are absolute or escape the output folder, duplicate ids or outputs), each as 'NAME line N: ...'.
    """
    p = Path(path)
    if not p.is_file():
        raise AvatarInputError(f"manifest {str(path)!r} not found")
    if p.suffix.lower() not in (".jsonl", ".ndjson", ".json", ".csv"):
        raise AvatarInputError(f"manifest {str(path)!r}: use JSON Lines (.jsonl) or .csv with the same columns")
    rows, problems = _rows(p)
    base = p.resolve().parent
    jobs: list[Job] = []
    for line, raw in rows:
        try:
            jobs.append(_job(raw, line, base))
        except AvatarInputError as e:
            problems.append(f"{p.name} line {line}: {e}")
    ids: dict[str, int] = {}
    written: dict[str, int] = {}
    for job in jobs:
        if job.id in ids:
            problems.append(f"{p.name} line {job.line}: id {job.id!r} is already used on line {ids[job.id]}; ids must be unique")
        ids.setdefault(job.id, job.line)
        for out in job.outputs:
            if out in written:
                problems.append(f"{p.name} line {job.line}: {out!r} is also written by line {written[out]}; give each job its own outputs")
            written.setdefault(out, job.line)
    if not rows and not problems:
        problems.append(f"{p.name}: no jobs (one JSON object per line, e.g. {{\"emotion\": \"happy\", \"output\": \"happy.png\"}})")
    if problems:
        problems.sort(key=lambda s: int(s.split(" line ", 1)[1].split(":", 1)[0]) if " line " in s else 0)
        raise ManifestError(problems)
    return jobs
