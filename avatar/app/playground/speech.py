"""Returns the Speech tab: audio (upload or microphone), an optional transcript and an emotion or emotion track in; an MP4 with sound, CSV and GLB out.

Animation goes through `avatar.app.facade.animate` (lips solved on the chosen identity's head); the
video is the GL worker's Session renderer streamed into `renderers.writers.save_frames`, which muxes
the uploaded audio into the MP4. Every file is written under the playground's temp folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avatar.emotion import EMOTIONS
from avatar.errors import AvatarInputError

if TYPE_CHECKING:
    from avatar.app.playground.state import Playground
    from avatar.appearance import Appearance
    from avatar.app.session import Session
    from avatar.sequence import ExpressionSequence

SPEECH_VIEWS: tuple[str, ...] = ("front", "three-quarter", "profile")


def _write_video(session: Session, seq: ExpressionSequence, identity: int | None, camera: Any, size: int, path: Path,
                 report: Callable[[int, int], None], appearance: Appearance | None = None,
                 brow_lowerer: float | None = None) -> Path:
    """Return `path` after rendering every frame of `seq` into an MP4 with its audio; runs on the GL worker."""
    import avatar.app.facade as facade
    from avatar.constants import DEFAULT_BACKGROUND
    from renderers.writers import save_frames

    # get_renderer's skin= and eyes= win over the appearance's colours: pass the appearance's own.
    colours = {} if appearance is None else {"skin": appearance.skin, "eyes": appearance.eyes}
    renderer = facade.get_renderer(None, identity, size, size, DEFAULT_BACKGROUND, view=camera, session=session,
                                   appearance=appearance, brow_lowerer=brow_lowerer, **colours)
    total = len(seq)

    def frames() -> Any:
        for i, frame in enumerate(renderer.iter_frames(seq.weights, seq.head_pose)):
            if i % 15 == 0:
                report(i, total)
            yield frame

    return save_frames(frames(), path, fps=seq.fps, audio=seq.audio, total=total)


def check_seed(seed: Any) -> int:
    """Return the seed as a non-negative int; raise AvatarInputError on anything else."""
    try:
        value = float(seed if seed is not None else 0)
    except (TypeError, ValueError):
        raise AvatarInputError(f"seed {seed!r} is not a number: use a whole number >= 0") from None
    if value != int(value) or value < 0:
        raise AvatarInputError(f"seed {seed!r}: use a whole number >= 0")
    return int(value)


def animate_speech(pg: Playground, audio: str | None, transcript: str | None, emotion: str, intensity: float,
                   emotion_track: str | None, identity: Any, view: str, seed: Any,
                   progress: Callable[..., Any] | None = None, appearance: Appearance | None = None,
                   brow_lowerer: float | None = None) -> tuple[str, str, str, str]:
    """Return (MP4 path, CSV path, GLB path, a one-paragraph description) of a talking head for the uploaded speech.

    `appearance` sets the video's shading switches and look (None: the library's; see `avatar.app.playground.shading`;
    the GLB carries its skin and eye colours);
    `brow_lowerer` the head's brow lowerer strength 0..2 (None: the shipped one), in the video and the GLB.
    """
    import avatar.app.facade as facade
    from avatar.app.playground.expression import camera_for, check_identity
    from avatar.app.playground.limits import MAX_AUDIO_SECONDS, check_audio_upload, check_transcript
    from avatar.app.playground.shading import brow_lowerer_of, describe
    from avatar.appearance import Appearance
    from avatar.brow_lowerer import BROW_LOWERER
    from avatar.io.headfile import load_head

    def report(done: float, desc: str) -> None:
        if progress is not None:
            progress(done, desc=desc)

    check_audio_upload(audio)
    text = check_transcript(transcript)
    ident = check_identity(identity)
    seed_v = check_seed(seed)
    strength = brow_lowerer_of(brow_lowerer)
    if view not in SPEECH_VIEWS:
        raise AvatarInputError(f"unknown view {view!r}: use one of {', '.join(SPEECH_VIEWS)}")
    track = (emotion_track or "").strip() or None
    facade.pose(emotion=emotion, intensity=float(intensity))  # a bad emotion fails before the audio work
    report(0.05, "animating")
    head = load_head(None, identity=ident, brow_lowerer=strength)  # lips are closed on, and the GLB carries, this identity's head
    seq = facade.animate(audio, text=text, emotion=emotion, intensity=float(intensity), emotion_track=track, seed=seed_v,
                         head=head, max_seconds=MAX_AUDIO_SECONDS)
    out = pg.new_output_dir()
    csv, glb, mp4 = out / "talk.csv", out / "talk.glb", out / "talk.mp4"
    seq.save(csv)
    colours = Appearance() if appearance is None else Appearance(skin=appearance.skin, eyes=appearance.eyes)
    seq.save(glb, head=head, appearance=colours)
    pg.run(_write_video, seq, ident, camera_for(view, 0.0), pg.video_size, mp4,
           lambda i, n: report(0.2 + 0.8 * i / max(n, 1), f"rendering frame {i}/{n}"), appearance, strength)
    what = f"emotion track `{track}`" if track else f"{emotion} at intensity {float(intensity):.2f}"
    look = f", shading: {describe(appearance)}" if describe(appearance) else ""
    if strength is not None and strength != BROW_LOWERER:
        look += f", brow lowerer {strength:g}"
    info = (f"**{len(seq)} frames** at {seq.fps:g} fps ({seq.duration:.2f} s), {what}, "
            f"{'transcript-aligned' if text else 'no transcript'}, identity {ident or 0}, seed {seed_v}{look}. "
            "Downloads: Live Link Face CSV (ARKit 52 per frame) and GLB (the head with morph-target animation).")
    return str(mp4), str(csv), str(glb), info


def build(pg: Playground, shading: Any, brow: Any, look: list[Any]) -> None:
    """Lay out the Speech tab in the current Blocks and wire its Animate button; the `shading` group's choice, the
    `brow` slider's strength and the `look` row's skin, eyes, hair and clothing apply to the video."""
    import gradio as gr

    from avatar.app.playground.errors import user_errors
    from avatar.app.playground.shading import appearance_of
    from avatar.app.playground.expression import MAX_IDENTITY
    from avatar.app.playground.limits import MAX_AUDIO_SECONDS, MAX_UPLOAD_MB

    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=300):
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath", format=None, elem_id="speech-audio",
                             label=f"Speech: upload or record (up to {MAX_AUDIO_SECONDS:.0f} s, {MAX_UPLOAD_MB} MB)")
            transcript = gr.Textbox(label="Transcript (optional: aligns the lips to the words)", lines=2,
                                    elem_id="speech-text", placeholder="the words spoken")
            with gr.Row():
                emotion = gr.Dropdown(list(EMOTIONS), value="happy", label="Emotion", elem_id="speech-emotion", min_width=120)
                intensity = gr.Slider(0, 1, value=0.7, step=0.05, label="Intensity", elem_id="speech-intensity", min_width=160)
            track = gr.Textbox(label="Emotion track (optional; overrides the emotion)", elem_id="speech-track",
                               placeholder="0:neutral,1.5:anger@0.9,4:neutral   (seconds:emotion@intensity)")
            with gr.Row():
                identity = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_IDENTITY, label="Identity", min_width=90)
                view = gr.Dropdown(list(SPEECH_VIEWS), value="front", label="View", min_width=120)
                seed = gr.Number(value=0, precision=0, minimum=0, label="Seed (blinks, gaze)", min_width=90)
            button = gr.Button("Animate", variant="primary", elem_id="speech-run")
        with gr.Column(scale=5, min_width=320):
            video = gr.Video(label="Talking head (MP4 with sound)", interactive=False, elem_id="speech-video")
            info = gr.Markdown(elem_id="speech-info")
            with gr.Row():
                csv = gr.File(label="Live Link Face CSV", interactive=False, elem_id="speech-csv")
                glb = gr.File(label="glTF binary (GLB)", interactive=False, elem_id="speech-glb")

    @user_errors(pg.root)
    def on_animate(audio_v: str | None, text_v: str, emotion_v: str, intensity_v: float, track_v: str, identity_v: Any,
                   view_v: str, seed_v: Any, shading_v: list[str] | None, brow_v: float | None, skin_v: str | None,
                   eyes_v: str | None, hair_style_v: str | None, hair_colour_v: str | None, clothing_v: str | None,
                   progress: gr.Progress = gr.Progress()) -> tuple[str, str, str, str]:  # noqa: B008 - gradio's idiom
        look_v = (skin_v, eyes_v, hair_style_v, hair_colour_v, clothing_v)  # the Look row, in shading.LOOK order
        return animate_speech(pg, audio_v, text_v, emotion_v, intensity_v, track_v, identity_v, view_v, seed_v, progress,
                              appearance=appearance_of(shading_v, look_v), brow_lowerer=brow_v)

    button.click(on_animate, [audio, transcript, emotion, intensity, track, identity, view, seed, shading, brow, *look],
                 [video, csv, glb, info], api_name="animate")
