"""Returns the Portrait tab: a placeholder that says diffusion portraits are not in the toolkit yet (no fake output)."""

from __future__ import annotations

PORTRAIT_NOTE = """### Portraits are not available yet

Diffusion portraits (emotion / AU / valence-arousal conditions -> a gallery of photoreal faces, each
scored by the judges) are planned but not part of this version of emoavatar, so this tab has nothing to
run. The Expression, Speech and Fidelity tabs work on the shipped 3D head today.
"""


def build() -> None:
    """Lay out the Portrait tab's note in the current Blocks."""
    import gradio as gr

    gr.Markdown(PORTRAIT_NOTE, elem_id="portrait-note")
