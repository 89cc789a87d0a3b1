"""Render every emotion at full intensity on three faces and save a PNG each (python examples/render_emotions.py)."""

import avatar
from avatar.emotion import EMOTIONS

for identity in (0, 7, 21):
    for emotion in EMOTIONS:
        weights = avatar.pose(emotion=emotion, intensity=1.0)          # (52,) ARKit weights
        image = avatar.render(weights, identity=identity, view="three-quarter", skin="tan")
        avatar.save_image(image, f"out/{emotion}_{identity}.png")
print("wrote out/*.png")
