"""Timed ARPAbet phones from speech with pocketsphinx 5 (CMU's English acoustic model shipped in its wheel).

With a transcript: two-pass forced alignment (`set_align_text` word pass, then `set_alignment` phone pass).
Without one: words are decoded with the bundled US English n-gram LM and dictionary, and the hypothesis
is force-aligned like a transcript (`recognize`); when decoding finds no words, or its words do not align,
phone-loop recognition (`allphone` with the bundled phone LM) is the fallback. Word decoding is slower
(~0.3x real time on 2 cores vs ~0.07x) but on human speech it finds far more of the bilabials: 91% vs 62%
of the p/b/m phones of the LibriVox and CMU recordings in Debian's pocketsphinx-testdata (its word errors
mostly keep the mouth shapes: "prudently" heard as "prickly" still closes for the p). Pass the transcript
whenever you have it. All decoders use batch cepstral mean
normalisation, so a result never depends on what was decoded before (reproducible output). Words missing from the
CMU dictionary get a rough letter-to-sound pronunciation so alignment still goes through.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from avatar.errors import AvatarInputError
from generators.speech.audio import INSTALL_HINT, Audio

ARPABET: frozenset[str] = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
)
"""The 39 CMU dictionary phones (stress marks stripped); silence is "SIL"."""


@dataclass(frozen=True)
class Phone:
    """One timed phone: ARPAbet label (or "SIL"), start and end in seconds, and the word it belongs to."""

    label: str
    start: float
    end: float
    word: str = ""

    @property
    def duration(self) -> float:
        """Return end - start in seconds."""
        return self.end - self.start


def _pocketsphinx():  # noqa: ANN202 - module object
    try:
        import pocketsphinx
    except ImportError:
        raise AvatarInputError(f"the phonetic speech path needs pocketsphinx: {INSTALL_HINT}") from None
    return pocketsphinx


@lru_cache(maxsize=4)
def _decoder(kind: str, sample_rate: int):  # noqa: ANN202 - pocketsphinx.Decoder
    """Return a cached decoder: "align" (no LM), "words" (the bundled n-gram LM) or "phones" (allphone)."""
    ps = _pocketsphinx()
    if kind == "words":
        return ps.Decoder(samprate=sample_rate, loglevel="FATAL", cmn="batch", bestpath=True)
    if kind == "align":
        # Beams far wider than the defaults: alignment search space is tiny (one word string), and the
        # default beams lose the path on pauses and fast or accented speech (5/16 clips aligned in our test
        # vs 16/16 with these, at ~0.05x real time).
        return ps.Decoder(lm=None, bestpath=False, samprate=sample_rate, loglevel="FATAL", cmn="batch",
                          beam=1e-200, wbeam=1e-150, pbeam=1e-200)
    model = ps.get_model_path()
    return ps.Decoder(lm=None, allphone=f"{model}/en-us/en-us-phone.lm.bin", bestpath=False,
                      samprate=sample_rate, loglevel="FATAL", cmn="batch")


_NUMBERS = "zero one two three four five six seven eight nine".split()


def normalize_transcript(text: str) -> list[str]:
    """Return the lower-case words of `text`, punctuation dropped and digits spelled one by one."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"\d", lambda m: f" {_NUMBERS[int(m.group())]} ", text)
    words = re.findall(r"[a-z]+(?:'[a-z]+)*", text)
    return words


# Rough letter-to-sound rules, longest match first: good enough to give an OOV word the right
# *kinds* of mouth shapes (a closure for "b", an open vowel for "a") so the alignment survives.
_LTS = [
    ("tch", "CH"), ("sch", "S K"), ("igh", "AY"), ("ough", "OW"), ("augh", "AO"),
    ("ch", "CH"), ("sh", "SH"), ("th", "TH"), ("ph", "F"), ("wh", "W"), ("ck", "K"), ("ng", "NG"),
    ("qu", "K W"), ("oo", "UW"), ("ee", "IY"), ("ea", "IY"), ("ai", "EY"), ("ay", "EY"), ("ou", "AW"),
    ("ow", "OW"), ("oi", "OY"), ("oy", "OY"), ("au", "AO"), ("aw", "AO"), ("ie", "IY"), ("ei", "EY"),
    ("a", "AE"), ("b", "B"), ("c", "K"), ("d", "D"), ("e", "EH"), ("f", "F"), ("g", "G"), ("h", "HH"),
    ("i", "IH"), ("j", "JH"), ("k", "K"), ("l", "L"), ("m", "M"), ("n", "N"), ("o", "AA"), ("p", "P"),
    ("q", "K"), ("r", "R"), ("s", "S"), ("t", "T"), ("u", "AH"), ("v", "V"), ("w", "W"), ("x", "K S"),
    ("y", "Y"), ("z", "Z"),
]


def letter_to_sound(word: str) -> str:
    """Return a rough space-separated ARPAbet pronunciation for a word the dictionary lacks."""
    w = re.sub(r"[^a-z]", "", word.lower())
    if len(w) > 2 and w.endswith("e") and w[-2] not in "aeiou":
        w = w[:-1]  # silent final e ("make")
    phones, i = [], 0
    while i < len(w):
        for graph, ph in _LTS:
            if w.startswith(graph, i):
                if not (phones and phones[-1] == ph):  # doubled letters ("ll") are one phone
                    phones.append(ph)
                i += len(graph)
                break
    return " ".join(phones) or "AH"


DITHER_LSB = 4
"""Peak of the seeded triangular dither added before decoding, in 16-bit steps (~-78 dBFS)."""


def _pcm(audio: Audio) -> bytes:
    """Return the clip as int16 PCM with a fixed, seeded dither of `DITHER_LSB` steps.

    Synthetic speech has stretches of exact digital silence, whose log energies sit at the floor and throw
    off the cepstral normalisation: 5 of 32 espeak-ng clips failed to align without it, 0 of 32 with it.
    The dither is seeded (the same for every call), so results stay reproducible.
    """
    rng = np.random.default_rng(0)
    n = len(audio.samples)
    dither = (rng.random(n) - rng.random(n)) * DITHER_LSB
    pcm = np.clip(np.round(np.clip(audio.samples, -1.0, 1.0) * 32767.0 + dither), -32768, 32767)
    return pcm.astype("<i2").tobytes()


def _run(decoder, pcm: bytes) -> None:  # noqa: ANN001
    # The decoders are cached, and pocketsphinx's feature stage keeps state from one utterance into the next (resetting
    # the CMN estimate alone did not help): without this a clip decoded after another one got other phones (up to 0.36
    # in a weight of `animate --method hybrid` on its second call in a process). Every utterance starts afresh.
    decoder.reinit_feat()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _base(label: str) -> str:
    """Return the phone without stress digits; noise and filler phones become "SIL"."""
    p = re.sub(r"\d", "", label.upper())
    return p if p in ARPABET else "SIL"


def align(audio: Audio, words: list[str]) -> list[Phone]:
    """Return phones force-aligned to `words` (lower-case, in the order spoken).

    Raises:
        AvatarInputError: pocketsphinx missing, or the audio cannot be aligned to the words.
    """
    dec = _decoder("align", audio.sample_rate)
    for w in words:
        if dec.lookup_word(w) is None:
            dec.add_word(w, letter_to_sound(w), True)
    frate = float(dec.config["frate"])
    pcm = _pcm(audio)
    try:
        dec.set_align_text(" ".join(words))
        _run(dec, pcm)
        dec.set_alignment()
        _run(dec, pcm)
        alignment = dec.get_alignment()
    except RuntimeError:
        raise AvatarInputError(
            f"could not align the transcript ({len(words)} words) to the audio: check that the text matches "
            "what is said, or leave text out"
        ) from None
    phones = []
    for word in alignment:
        for ph in word:
            start = ph.start / frate
            phones.append(Phone(_base(ph.name), start, start + ph.duration / frate, word.name))
    if not phones:
        raise AvatarInputError("the transcript could not be aligned to the audio: check the text, or leave it out")
    return _fill_gaps(phones, audio.duration)


def recognize(audio: Audio, mode: str = "words") -> list[Phone]:
    """Return phones for audio without a transcript.

    `mode` "words": decode words with the bundled n-gram LM, then force-align them (~0.3x real time),
    falling back to "phones" when nothing aligns; "phones": phone-loop recognition (~0.07x real time).
    """
    pcm = _pcm(audio)
    if mode == "words":
        dec = _decoder("words", audio.sample_rate)
        _run(dec, pcm)
        words = [s.word.split("(")[0] for s in dec.seg()]
        words = [w for w in words if w and not w.startswith(("<", "["))]
        if words:
            try:
                return align(audio, words)
            except AvatarInputError:
                pass
    dec = _decoder("phones", audio.sample_rate)
    _run(dec, pcm)
    frate = float(dec.config["frate"])
    phones = [Phone(_base(s.word), s.start_frame / frate, (s.end_frame + 1) / frate) for s in dec.seg()]
    return _fill_gaps(phones, audio.duration)


def phones_from_audio(audio: Audio, text: str | None = None) -> list[Phone]:
    """Return timed phones covering the whole clip: forced alignment when `text` is given, else recognition.

    A transcript that fails to align falls back to recognition with a warning, so one bad line of text
    does not stop a batch.
    """
    return aligned_phones(audio, text)[0]


def aligned_phones(audio: Audio, text: str | None = None) -> tuple[list[Phone], bool]:
    """Return (timed phones covering the whole clip, whether they are the transcript's forced alignment).

    False: no transcript, or one that failed to align (warned once; the phones are then recognised).
    """
    if text is not None and not str(text).strip():
        text = None
    if text is None:
        return recognize(audio), False
    words = normalize_transcript(str(text))
    if not words:
        raise AvatarInputError(f"the transcript {text!r} has no words: pass the spoken text, or leave it out")
    try:
        return align(audio, words), True
    except AvatarInputError as exc:
        warnings.warn(f"{exc}; falling back to recognition without the transcript", stacklevel=3)
        return recognize(audio), False


def _fill_gaps(phones: list[Phone], duration: float) -> list[Phone]:
    """Return phones sorted and tiled over [0, duration] with "SIL" in any gap."""
    out: list[Phone] = []
    t = 0.0
    for ph in sorted(phones, key=lambda p: p.start):
        if ph.start > t + 1e-6:
            out.append(Phone("SIL", t, ph.start))
        start = max(ph.start, t)
        end = min(max(ph.end, start), duration)
        if end > start:
            out.append(Phone(ph.label, start, end, ph.word))
            t = end
    if t < duration - 1e-6:
        out.append(Phone("SIL", t, duration))
    return out
