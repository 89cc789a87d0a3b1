"""Lip-sync measurements on the posed mesh, against an alignment independent of the one that drove the animation.

A lip-sync path is easy to flatter by scoring it against the very phone boundaries it was animated
from. These helpers score against other boundaries: a second pocketsphinx alignment with different decoder
settings (`independent_alignment`), and/or the boundaries moved at random by up to ±30 ms (`jitter_phones`).
The judge is geometric: the inner-lip gap of the posed mesh (`visemes.LipModel`) at every p/b/m phone, and
the lower lip's distance from the upper teeth at every f/v phone.

Definitions (`closure_report`):
* a bilabial is *closed* when the lips touch (gap < `CLOSED_CM`) on at least one frame inside the phone,
  and *held* when they touch on every frame inside it (a phone with no frame inside uses the frame nearest
  its middle);
* the closure onset offset is the first touching frame, searched from 150 ms before the phone, minus the
  phone's start (negative: the lips closed before the sound, as animators do it);
* a vowel is *falsely shut* when the lips touch at its middle frame (the price of closing too eagerly);
* a release *pop* is the largest frame-to-frame opening of the gap in the 100 ms after a closure ends,
  in cm per 10 ms (so numbers compare across frame rates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from generators.speech.audio import Audio
from generators.speech.phonetic import Phone, _fill_gaps
from generators.speech.visemes import BILABIAL_PHONES, LABIODENTAL_PHONES, LipModel, default_lip_model

CLOSED_CM = 0.15
"""Inner lips closer than this count as touching (the neutral rest gap of the ICT head is ~0.08 cm)."""
VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
TUCKED_CM = 0.2
"""A lower inner lip within this distance of its place against the upper teeth counts as an f/v tuck."""


def jitter_phones(phones: list[Phone], seed: int, max_shift_s: float = 0.03, min_len_s: float = 0.01) -> list[Phone]:
    """Return `phones` with every inner boundary moved by a seeded uniform shift in ±`max_shift_s`, order kept.

    Each shift is clipped so no phone becomes shorter than `min_len_s`; the clip's first and last
    boundaries stay put.
    """
    if len(phones) < 2:
        return list(phones)
    rng = np.random.default_rng(seed)
    bounds = np.array([p.start for p in phones] + [phones[-1].end], np.float64)
    moved = bounds.copy()
    for i in range(1, len(bounds) - 1):
        lo = moved[i - 1] + min_len_s
        hi = bounds[i + 1] - min_len_s
        moved[i] = float(np.clip(bounds[i] + rng.uniform(-max_shift_s, max_shift_s), lo, max(lo, hi)))
    return [Phone(p.label, float(a), float(b), p.word) for p, a, b in zip(phones, moved[:-1], moved[1:])]


@lru_cache(maxsize=2)
def _independent_decoder(sample_rate: int):  # noqa: ANN202 - pocketsphinx.Decoder
    from generators.speech.phonetic import _pocketsphinx

    ps = _pocketsphinx()
    # A 20 ms analysis window instead of the model's 25.6 ms, and no dither: different features, so the
    # boundaries it finds move by 10-40 ms against the project's aligner on the same clip (pocketsphinx's
    # default beams were tried first and fail the phone pass on most clips). Batch CMN keeps it reproducible.
    return ps.Decoder(lm=None, bestpath=False, samprate=sample_rate, loglevel="FATAL", cmn="batch", wlen=0.02,
                      dither=False, beam=1e-200, wbeam=1e-150, pbeam=1e-200)


def independent_alignment(audio: Audio, text: str) -> list[Phone] | None:
    """Return phones from a second pocketsphinx forced alignment with other decoder settings, or None when it fails."""
    from generators.speech.phonetic import _base, _pcm, _run, letter_to_sound, normalize_transcript

    words = normalize_transcript(text)
    dec = _independent_decoder(audio.sample_rate)
    for w in words:
        if dec.lookup_word(w) is None:
            dec.add_word(w, letter_to_sound(w), True)
    frate = float(dec.config["frate"])
    pcm = _pcm(audio)  # the same seeded dither as the project's aligner: digital silence breaks both
    try:
        dec.set_align_text(" ".join(words))
        _run(dec, pcm)
        dec.set_alignment()
        _run(dec, pcm)
        alignment = dec.get_alignment()
    except RuntimeError:
        return None
    phones = [Phone(_base(ph.name), ph.start / frate, (ph.start + ph.duration) / frate, word.name)
              for word in alignment for ph in word]
    return _fill_gaps(phones, audio.duration) if phones else None


@dataclass
class ClosureReport:
    """Counts from `closure_report`, summable over clips with `+`.

    Attributes:
        bilabials: p/b/m phones scored.
        closed: of those, phones with the lips touching on at least one frame inside.
        held: phones with the lips touching on every frame inside.
        labiodentals: f/v phones scored; tucked: of those, with the lower lip at the teeth on some frame.
        vowels: vowel phones scored; vowels_shut: of those, with the lips touching at the middle frame.
        onsets_ms: closure onset offsets (ms), one per bilabial whose lips touch near it.
        pops: largest release opening speed (cm per 10 ms) after each closure run.
    """

    bilabials: int = 0
    closed: int = 0
    held: int = 0
    labiodentals: int = 0
    tucked: int = 0
    onsets_ms: list[float] = field(default_factory=list)
    pops: list[float] = field(default_factory=list)
    vowels: int = 0
    vowels_shut: int = 0

    def __add__(self, other: ClosureReport) -> ClosureReport:
        return ClosureReport(self.bilabials + other.bilabials, self.closed + other.closed, self.held + other.held,
                             self.labiodentals + other.labiodentals, self.tucked + other.tucked,
                             self.onsets_ms + other.onsets_ms, self.pops + other.pops, self.vowels + other.vowels,
                             self.vowels_shut + other.vowels_shut)

    @property
    def false_shut_rate(self) -> float:
        """Return the share of vowels with the lips touching at their middle frame."""
        return self.vowels_shut / self.vowels if self.vowels else float("nan")

    @property
    def closed_rate(self) -> float:
        """Return the share of bilabials with the lips touching inside the phone (nan when none)."""
        return self.closed / self.bilabials if self.bilabials else float("nan")

    @property
    def held_rate(self) -> float:
        """Return the share of bilabials with the lips touching on every frame of the phone."""
        return self.held / self.bilabials if self.bilabials else float("nan")

    @property
    def tucked_rate(self) -> float:
        """Return the share of f/v phones with the lower lip at the upper teeth."""
        return self.tucked / self.labiodentals if self.labiodentals else float("nan")


def _frames_inside(t: np.ndarray, p: Phone) -> np.ndarray:
    inside = (t >= p.start) & (t < p.end)
    if not inside.any() and len(t):
        inside[min(len(t) - 1, int(np.argmin(np.abs(t - 0.5 * (p.start + p.end)))))] = True
    return inside


def closure_report(weights: np.ndarray, fps: float, phones: list[Phone], lip_model: LipModel | None = None) -> ClosureReport:
    """Return the `ClosureReport` of (T, 52) `weights` at `fps` scored against `phones` (see the module docstring)."""
    lips = lip_model or default_lip_model()
    gap = lips.gap(weights)
    t = np.arange(len(weights)) / fps
    rep = ClosureReport()
    touching = gap < CLOSED_CM
    for k, p in enumerate(phones):
        if p.label in BILABIAL_PHONES:
            inside = _frames_inside(t, p)
            rep.bilabials += 1
            rep.closed += bool(touching[inside].any())
            rep.held += bool(touching[inside].all())
            # Search from 150 ms before, but not into the previous phone's first half (which may be a bilabial).
            since = p.start - 0.15 if k == 0 else max(p.start - 0.15, phones[k - 1].start + 0.5 * phones[k - 1].duration)
            idx = np.flatnonzero((t >= since) & (t < p.end) & touching)
            if len(idx):
                rep.onsets_ms.append(float((t[idx[0]] - p.start) * 1000.0))
        elif p.label in VOWELS and len(t):
            rep.vowels += 1
            rep.vowels_shut += bool(touching[min(len(t) - 1, int(np.argmin(np.abs(t - 0.5 * (p.start + p.end)))))])
        elif p.label in LABIODENTAL_PHONES and lips.teeth_edge is not None:
            inside = _frames_inside(t, p)
            rep.labiodentals += 1
            rep.tucked += bool((lips.tuck_distance(weights[inside]) < TUCKED_CM).any())
    ends = np.flatnonzero(touching[:-1] & ~touching[1:]) + 1
    window = max(1, int(round(0.1 * fps)))
    for e in ends:
        seg = gap[e - 1 : e + window]
        if len(seg) > 1:
            rep.pops.append(float(np.diff(seg).max() * fps / 100.0))
    return rep
