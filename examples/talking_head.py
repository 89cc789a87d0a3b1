"""Speech in, emotional talking head out: synthesise a sentence with espeak-ng, animate it, write MP4 + CSV."""

import subprocess

import avatar

text = "hello there, this is an emotional talking head"
subprocess.run(["espeak-ng", "-w", "out/hello.wav", text], check=True)
seq = avatar.animate("out/hello.wav", text=text, emotion="happy", intensity=0.7, seed=0)
seq.save("out/hello.csv")
avatar.save_video(avatar.render(seq, progress=True), "out/hello.mp4", fps=seq.fps, audio=seq.audio)
print(f"{len(seq)} frames at {seq.fps:g} fps -> out/hello.mp4 (with audio), out/hello.csv")
