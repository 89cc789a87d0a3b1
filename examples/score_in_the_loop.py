"""Score how well generated faces read as their emotion, batch by batch, keeping tensors on the device."""

import numpy as np

import avatar
from avatar.emotion import EMOTIONS
from avatar.app.facade import get_renderer
from recognizers import EmotionScorer, ExpressionNetRecognizer

device = "auto"                                     # cuda when there is one
recognizer = ExpressionNetRecognizer.from_default(device=device)
scorer = EmotionScorer(device=device)
renderer = get_renderer(width=256, height=256)
for intensity in (0.4, 0.7, 1.0):
    weights = np.stack([avatar.pose(emotion=e, intensity=intensity) for e in EMOTIONS])
    frames = renderer.to_torch(renderer.render(weights), device)   # one upload per batch
    scorer.update(recognizer(frames, boxes=renderer.face_boxes(weights)), list(EMOTIONS))
score = scorer.compute()
print(score)
score.to_json("out/score.json")
score.confusion_png("out/confusion.png")
