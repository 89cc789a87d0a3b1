"""Animate a keyframed emotion track, export it for Unreal (Live Link CSV) and Blender (GLB), and render an MP4."""

import avatar
from generators.expression import timeline

seq = timeline("0:neutral,1:happy@0.8,2.5:surprise,3.5:sad@0.7,5:neutral", fps=30, transition=0.4)
seq.save("out/track.csv")     # Live Link Face layout
seq.save("out/track.glb")     # morph targets + animation
avatar.save_video(avatar.render(seq, width=384, height=384, progress=True), "out/track.mp4", fps=seq.fps)
print(f"{len(seq)} frames -> out/track.csv, out/track.glb, out/track.mp4")
