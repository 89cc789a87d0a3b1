"""The Gradio playground: upload checks and one-line errors, `serve --share` refused, and a walk through every tab in headless chromium.

The browser test starts `emoavatar serve --port <free port>` as a user does, drives Debian's
chromium with Playwright (never a downloaded browser), blocks and records every request that is not
to the server, and keeps a screenshot of each tab under the test's tmp dir and `tests/artifacts/`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avatar.errors import AvatarInputError
from tests.serving import CLI, running_playground

pytestmark = [pytest.mark.gl, pytest.mark.speech, pytest.mark.browser]

pytest.importorskip("gradio", reason='the playground needs gradio: pip install "emoavatar[playground]"')

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _write_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    """Return `path` after writing a quiet 220 Hz tone of `seconds` as 16-bit mono WAV."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.2 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


# ------------------------------------------------------------------ checks without a browser

def test_upload_checks_give_one_line_naming_the_file(tmp_path: Path) -> None:
    from avatar.app.playground.limits import MAX_UPLOAD_MB, check_audio_upload

    fake = tmp_path / "speech.wav"
    fake.write_text("this is not audio\n")
    with pytest.raises(AvatarInputError, match=r"'speech.wav' is not a readable WAV file"):
        check_audio_upload(fake)
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(AvatarInputError, match="not an audio file"):
        check_audio_upload(notes)
    big = tmp_path / "big.wav"
    with open(big, "wb") as f:
        f.truncate((MAX_UPLOAD_MB + 1) * 1_000_000)
    with pytest.raises(AvatarInputError, match=r"over the 20 MB limit"):
        check_audio_upload(big)
    with pytest.raises(AvatarInputError, match=r"61.0 s long, over the 60 s limit"):
        check_audio_upload(_write_wav(tmp_path / "long.wav", 61.0, rate=8000))
    with pytest.raises(AvatarInputError, match="no audio"):
        check_audio_upload(None)
    assert check_audio_upload(_write_wav(tmp_path / "ok.wav", 1.5)) == pytest.approx(1.5)


def test_errors_are_one_line_without_server_paths(tmp_path: Path) -> None:
    import gradio as gr

    from avatar.app.playground.errors import one_line, user_errors

    root = tmp_path / "root"
    assert one_line(f"cannot read '{root}/gradio/abc/x.wav' as audio\n  at line 2", root) == "cannot read 'x.wav' as audio at line 2"

    @user_errors(root)
    def bad_input() -> None:
        raise AvatarInputError(f"file '{root}/u/v/clip.wav' is\nbroken")

    @user_errors(root)
    def bug() -> None:
        raise ZeroDivisionError("division by zero")

    with pytest.raises(gr.Error) as e:
        bad_input()
    assert e.value.message == "file 'clip.wav' is broken"
    with pytest.raises(gr.Error) as e:
        bug()
    assert "\n" not in e.value.message and e.value.message.startswith("internal error (ZeroDivisionError)")


def test_playground_state_owns_its_temp_folder_and_restores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from avatar.app.playground.state import Playground

    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    pg = Playground(keep_outputs=2)
    root = pg.root
    assert os.environ["GRADIO_TEMP_DIR"] == str(root / "gradio") and os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    dirs = [pg.new_output_dir() for _ in range(4)]
    assert [d.exists() for d in dirs] == [False, False, True, True]  # bounded: only the newest are kept
    assert pg.run(lambda session: type(session).__name__) == "Session"
    pg.close()
    pg.close()
    assert not root.exists() and "GRADIO_TEMP_DIR" not in os.environ


def test_share_is_refused_with_one_line() -> None:
    r = subprocess.run([*CLI, "serve", "--share"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("emoavatar: error: --share is not available"), r.stderr


def test_look_row_sets_the_appearance_and_names_a_bad_choice() -> None:
    """The Look row's names become the Appearance's fields (skin, eyes, hair style and colour, clothing colour), the
    read-out names what differs from the library's, and a name the row does not offer is one line naming the choices."""
    from avatar.app.playground.shading import LOOK, appearance_of, describe, look_choices
    from avatar.appearance import Appearance

    app = appearance_of(["wrinkles"], ("dark", "green", "long", "blonde", "teal"))
    assert (app.skin, app.eyes, app.hair_style, app.hair_colour, app.clothing_colour) == ("dark", "green", "long", "blonde", "teal")
    assert not app.cavity and app.wrinkles  # the switches as before
    assert appearance_of(None, None) == Appearance() and appearance_of(None, (None,) * len(LOOK)) == Appearance()
    assert describe(appearance_of(None, ("dark", "brown", "short", "dark brown", "navy"))) == "skin tone dark"
    assert list(look_choices()["skin"]) == ["light", "medium", "tan", "brown", "dark"]
    with pytest.raises(AvatarInputError, match="unknown skin tone 'purple': use one of light, medium, tan, brown, dark"):
        appearance_of(None, ("purple", "brown", "short", "dark brown", "navy"))
    with pytest.raises(AvatarInputError, match="the look takes 5 values"):
        appearance_of(None, ("dark",))


@pytest.mark.slow
def test_look_row_reaches_the_renders_of_every_tab(tmp_path: Path) -> None:
    """The skin tone chosen in the Look row is the one drawn: the Expression render's cheek is darker for dark skin
    than for light, the Fidelity sweep renders at it (its config), and the Speech video's renderer is the dark one."""
    from avatar.app.playground import expression, fidelity, speech
    from avatar.app.playground.shading import appearance_of
    from avatar.app.playground.state import Playground
    from avatar.sequence import ExpressionSequence

    def look(skin: str) -> tuple[str, ...]:
        return (skin, "brown", "short", "dark brown", "navy")

    with Playground(image_size=128) as pg:
        cheeks = []
        for skin in ("light", "medium", "tan", "brown", "dark"):
            _, _, image, summary, *_ = expression.readout(pg, "emotion", "neutral", 0.0, 0, 0, "front", 0, 0,
                                                          appearance=appearance_of(None, look(skin)))
            cheeks.append(image[70:80, 40:50].astype(float).mean())  # the right cheek of the 128 px front face
        assert all(a > b + 5 for a, b in zip(cheeks, cheeks[1:])), cheeks  # each tone darker than the one before
        assert cheeks[-1] < 0.7 * cheeks[0] and "skin tone dark" in summary
        config = fidelity.sweep_config(["happy"], ["1.0"], "0", ["front"], ["fer2013"], 128, "cpu", appearance_of(None, look("dark")))
        assert config.skin == "dark" and config.appearance.skin == "dark"
        seq = ExpressionSequence(np.zeros((2, 52), np.float32), fps=30)

        def video_skins(session: Any) -> list[str]:
            speech._write_video(session, seq, 0, "front", 64, tmp_path / "v.mp4", lambda i, n: None,
                                appearance_of(None, look("dark")))
            return [r.options.appearance.skin for r in session._renderers.values() if r.options.width == 64]

        assert pg.run(video_skins) == ["dark"] and (tmp_path / "v.mp4").is_file()


@pytest.mark.slow
def test_callbacks_return_what_the_tabs_show(tmp_path: Path) -> None:
    """The callbacks alone (no server): a render with every judge's 8 probabilities, a tiny sweep, a bad sweep refused."""
    from avatar.app.judges import RECOGNIZERS
    from avatar.app.playground import expression, fidelity
    from avatar.app.playground.state import Playground

    with Playground(image_size=128) as pg:
        mode, view, image, summary, *charts = expression.readout(pg, "emotion", "happy", 0.9, 0, 0, "front", 0, 0)
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8 and image.std() > 10
        assert len(charts) == len(RECOGNIZERS) and "happy at intensity 0.90" in summary
        order = expression.judge_order()
        assert order[-1] == "expression-net" and set(order) == set(RECOGNIZERS)  # real-face judges first
        assert all(set(c["emotion"]) <= set(expression.EMOTIONS) and c["probability"].between(0, 1).all() for c in charts)
        _, _, image2, summary2, *_ = expression.readout(pg, "action units", "happy", 0.9, 0, 0, "yaw slider", 30, 7,
                                                        *([0.0] * 8 + [1.0] + [0.0] * 7))
        assert "AU12=1.00" in summary2 and "yaw 30 deg" in summary2 and not np.array_equal(image, image2)
        with pytest.raises(AvatarInputError, match="identity"):
            expression.readout(pg, "emotion", "happy", 0.9, 0, 0, "front", 0, -3)
        matrices, table, text = fidelity.run_sweep(pg, ["happy", "sad"], ["1.0"], "0", ["front"], ["fer2013"], 128)
        assert Path(matrices["fer2013"][0]).is_file() and list(table["emotion"][:2]) == ["happy", "sad"]
        assert "2 frames" in text and "Shading" not in text
        from avatar.app.playground.shading import appearance_of

        plain = appearance_of(["wrinkles"])  # the Shading group with cavity shading unticked
        assert fidelity.sweep_config(["happy"], ["1.0"], "0", ["front"], ["fer2013"], 128, "cpu", plain).appearance == plain
        _, _, text = fidelity.run_sweep(pg, ["happy"], ["1.0"], "0", ["front"], ["fer2013"], 128, appearance=plain)
        assert "Shading: cavity off" in text
        with pytest.raises(AvatarInputError, match="over the playground's 400"):
            fidelity.sweep_config(list(expression.EMOTIONS), ["0.25", "0.5", "0.75", "1.0"], "0,1,2,3,4",
                                  ["front", "profile", "three-quarter"], ["fer2013"], 128, "cpu")


@pytest.mark.slow
def test_shading_switches_reach_the_renders(tmp_path: Path) -> None:
    """The Shading group starts at the library's defaults and renders what `avatar.render` does; turning cavity shading
    off changes the Expression render and the Speech video, and only brightens them (cavity shading only darkens skin)."""
    import imageio.v3 as iio

    import avatar.app.facade as facade
    from avatar.app.playground import expression, shading, speech
    from avatar.app.playground.state import Playground
    from avatar.appearance import Appearance

    assert shading.appearance_of(shading.default_switches()) == Appearance()  # the boxes start where the library does
    no_cavity = [name for name in shading.default_switches() if name != "cavity"]
    assert shading.appearance_of(no_cavity) == Appearance(cavity=False)
    with pytest.raises(AvatarInputError, match="unknown shading switch 'sparkles'"):
        shading.appearance_of(["sparkles"])
    assert shading.appearance_of([*shading.default_switches(), "shadows"]) == Appearance(shadows=True)
    args = ("emotion", "happy", 0.9, 0, 0, "front", 0, 0)
    with Playground(image_size=128, video_size=96) as pg:
        library = pg.run(lambda session: facade.render(facade.pose(emotion="happy", intensity=0.9)[None], width=128, height=128,
                                                       session=session))
        _, _, on, summary_on, *_ = expression.readout(pg, *args, appearance=shading.appearance_of(shading.default_switches()))
        _, _, off, summary_off, *_ = expression.readout(pg, *args, appearance=shading.appearance_of(no_cavity))
        assert np.array_equal(on, np.asarray(library)[0]) and "shading" not in summary_on
        assert "shading: cavity off" in summary_off
        gain = off.astype(int) - on.astype(int)
        assert gain.min() >= 0 and (gain > 0).mean() > 0.02, "cavity off must only brighten, and visibly"
        x0, y0, x1, y1 = library.face_boxes[0].astype(int)
        assert off[y0:y1, x0:x1].mean() > on[y0:y1, x0:x1].mean() + 1.0  # the face, where the folds are, is lighter
        wav = str(_write_wav(tmp_path / "tone.wav", 1.0))
        videos = {}
        for name, chosen in (("on", shading.default_switches()), ("off", no_cavity)):
            mp4, _, _, info = speech.animate_speech(pg, wav, None, "happy", 0.7, None, 0, "front", 0,
                                                    appearance=shading.appearance_of(chosen))
            videos[name] = np.stack(list(iio.imiter(mp4))).astype(np.float64)
        assert ("shading: cavity off" in info) and videos["on"].shape == videos["off"].shape
        assert videos["off"].mean() > videos["on"].mean() + 0.5  # the same talking head, lighter without cavity shading


# ------------------------------------------------------------------ the browser walk

@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, Any]]:
    """Yield {"url", "log", "root"} of `emoavatar serve` on a free port; stop it with SIGTERM and check its temp folder went."""
    with running_playground() as (url, log):
        root = re.search(r"uploads and outputs in (\S+)", log)
        yield {"url": url, "log": log, "root": Path(root.group(1)) if root else None}
    if root:
        assert not Path(root.group(1)).exists(), "the playground left its temp folder behind"


@pytest.fixture(scope="module")
def browser_page(server: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Yield a Playwright page in Debian's headless chromium; requests not to the server are aborted and recorded."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the browser is Debian's chromium)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    outside: list[str] = []
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
        page = context.new_page()

        def only_the_server(route: Any) -> None:
            if route.request.url.startswith(server["url"]) or route.request.url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_the_server)
        page.set_default_timeout(120_000)
        page.outside_requests = outside
        try:
            yield page
        finally:
            context.close()
    assert outside == [], f"the page tried to reach the network: {outside}"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Return a function that saves a full-page screenshot under the tmp dir and copies it to tests/artifacts/."""
    folder = tmp_path_factory.mktemp("playground-screenshots")

    def shoot(page: Any, name: str) -> Path:
        path = folder / f"playground-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(path, ARTIFACTS / path.name)
        return path

    return shoot


def _open(page: Any, server: dict[str, Any], tab: str) -> None:
    page.goto(server["url"])
    page.wait_for_selector("#expr-image img")  # the page-load render has arrived: the app is live
    page.get_by_role("tab", name=tab).click()


def _toast(page: Any) -> str:
    """Return the message of the error toast that appears next (waits for it and for its slide-in to end)."""
    message = page.locator("[data-testid='toast-body'] .toast-message-text").last
    message.wait_for(state="visible")
    page.wait_for_timeout(1000)
    return message.inner_text()


@pytest.mark.slow
def test_server_prints_time_to_first_render(server: dict[str, Any]) -> None:
    assert re.search(r"first render in \d+\.\d\d s", server["log"]), server["log"]
    assert "127.0.0.1" in server["log"]


@pytest.mark.slow
def test_browser_expression_tab(browser_page: Any, server: dict[str, Any], shots: Any) -> None:
    page = browser_page
    _open(page, server, "Expression")
    image = page.locator("#expr-image img")
    first = image.get_attribute("src")
    summary = page.locator("#expr-summary")
    assert "happy at intensity 0.80" in summary.inner_text()
    page.locator("#expr-emotion input").click()
    page.get_by_role("option", name="sad", exact=True).click()
    page.wait_for_function("document.querySelector('#expr-summary').innerText.includes('sad at intensity')")
    second = image.get_attribute("src")
    assert second != first, "the render did not change with the emotion"
    slider = page.locator("#expr-intensity input[type=number]")
    slider.fill("0.3")
    slider.press("Enter")
    page.wait_for_function("document.querySelector('#expr-summary').innerText.includes('sad at intensity 0.30')")
    assert image.get_attribute("src") not in (first, second)
    from avatar.app.playground.expression import judge_order

    for name in judge_order():  # one bar chart per judge, drawn by vega
        page.locator(f"#judge-{name} canvas, #judge-{name} svg").first.wait_for(state="visible")
    assert summary.inner_text().index("fer2013") < summary.inner_text().index("expression-net")  # real faces first
    page.locator("#expr-view input").click()
    page.get_by_role("option", name="three-quarter").click()
    page.wait_for_function("document.querySelector('#expr-summary').innerText.includes('three-quarter')")
    shots(page, "expression")


def _expression_render(page: Any) -> np.ndarray:
    """Return the Expression tab's render as the page shows it, (H, W, 3) int64 RGB."""
    import io

    from PIL import Image

    src = page.locator("#expr-image img").get_attribute("src")
    return np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB"), np.int64)


@pytest.mark.slow
def test_browser_shading_toggle(browser_page: Any, server: dict[str, Any], shots: Any) -> None:
    """Unticking cavity shading in the page re-renders the face lighter (never darker); ticking it again brings back the first render."""
    page = browser_page
    _open(page, server, "Expression")

    def pixels() -> np.ndarray:
        return _expression_render(page)

    first = pixels()
    cavity = page.locator("#shading").get_by_label("cavity shading", exact=False)
    assert cavity.is_checked()  # the library's default
    cavity.uncheck()
    page.wait_for_function("document.querySelector('#expr-summary').innerText.includes('shading: cavity off')")
    gain = pixels() - first
    assert gain.min() >= 0 and gain.mean() > 0.1, "cavity off must only brighten the render, and visibly"
    shots(page, "shading")
    cavity.check()
    page.wait_for_function("!document.querySelector('#expr-summary').innerText.includes('shading:')")
    assert np.array_equal(pixels(), first)


@pytest.mark.slow
def test_browser_skin_tone_choice(browser_page: Any, server: dict[str, Any], shots: Any) -> None:
    """Choosing dark skin in the Look row re-renders the face darker, and says so; medium again brings back the render."""
    page = browser_page
    _open(page, server, "Expression")

    def pixels() -> np.ndarray:
        return _expression_render(page)

    first = pixels()
    page.locator("#look-skin input").click()
    page.get_by_role("option", name="dark", exact=True).click()
    page.wait_for_function("document.querySelector('#expr-summary').innerText.includes('skin tone dark')")
    changed = np.abs(pixels() - first).sum(-1) > 30  # the skin's pixels (the background and hair stay)
    assert changed.mean() > 0.05 and (pixels() - first)[changed].mean() < -30, "dark skin must render the face darker"
    shots(page, "look")
    page.locator("#look-skin input").click()
    page.get_by_role("option", name="medium", exact=True).click()
    page.wait_for_function("!document.querySelector('#expr-summary').innerText.includes('skin tone')")
    assert np.array_equal(pixels(), first)


@pytest.mark.slow
def test_browser_bad_upload_shows_one_line(browser_page: Any, server: dict[str, Any], shots: Any, tmp_path: Path) -> None:
    page = browser_page
    fake = tmp_path / "speech.wav"
    fake.write_text("this is a text file, not a recording\n")
    _open(page, server, "Speech")
    page.locator("#speech-audio input[type=file]").set_input_files(str(fake))
    page.locator("#speech-run").click()
    message = _toast(page)
    assert message.startswith("'speech.wav' is not a readable WAV file") and "\n" not in message.strip(), message
    assert "Traceback" not in message and "/tmp" not in message and "gradio" not in message.lower()
    shots(page, "bad-upload")


@pytest.mark.slow
def test_browser_speech_tab(browser_page: Any, server: dict[str, Any], shots: Any, tmp_path: Path) -> None:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is missing: apt-get install espeak-ng")
    wav = tmp_path / "hello.wav"
    subprocess.run([espeak, "-w", str(wav), "hello there, how are you today"], check=True, timeout=60)
    page = browser_page
    _open(page, server, "Speech")
    page.locator("#speech-audio input[type=file]").set_input_files(str(wav))
    page.locator("#speech-text textarea").fill("hello there, how are you today")
    page.locator("#speech-run").click()
    video = page.locator("#speech-video video")
    video.wait_for(state="visible", timeout=300_000)
    src = video.get_attribute("src")
    assert src and src.endswith(".mp4")
    mp4 = page.request.get(src).body()
    assert b"avc1" in mp4 and b"mp4a" in mp4, "the MP4 should carry H.264 video and AAC sound"
    links = {name: page.locator(f"#speech-{name} a").first.get_attribute("href") for name in ("csv", "glb")}
    assert links["csv"].endswith("talk.csv") and links["glb"].endswith("talk.glb")
    csv = page.request.get(links["csv"]).text()
    assert csv.splitlines()[0].startswith("Timecode,BlendShapeCount") and len(csv.splitlines()) > 30
    assert page.request.get(links["glb"]).body()[:4] == b"glTF"
    assert "transcript-aligned" in page.locator("#speech-info").inner_text()
    shots(page, "speech")


@pytest.mark.slow
def test_browser_fidelity_and_portrait_tabs(browser_page: Any, server: dict[str, Any], shots: Any) -> None:
    page = browser_page
    _open(page, server, "Portrait")
    page.locator("#portrait-n input[type=number]").fill("2")
    page.locator("#portrait-run").click()
    page.locator("#portrait-gallery img").first.wait_for(state="visible", timeout=300_000)
    assert "2 portraits" in page.locator("#portrait-summary").inner_text()
    shots(page, "portrait")
    page.get_by_role("tab", name="Fidelity").click()
    page.get_by_label("0.5", exact=True).check()  # 8 emotions x 2 intensities (neutral once): 15 frames
    page.locator("#fid-run").click()
    page.locator("#fid-confusion-fer2013 img").wait_for(state="visible", timeout=300_000)
    assert "15 frames" in page.locator("#fid-summary").inner_text()
    table = page.locator("#fid-table").inner_text()
    for word in ("happy", "contempt", "n/a", "balanced acc.", "fer2013", "expression-net"):
        assert word in table, word
    from avatar.app.playground.expression import judge_order

    for name in judge_order():
        page.locator(f"#fid-confusion-{name} img").wait_for(state="visible")
    shots(page, "fidelity")
