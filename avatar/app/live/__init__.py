"""Live outputs of a speech stream: Live Link Face (Unreal) and VMC (VTuber apps) over UDP, a microphone source, pacing.

One module per sink or source: `target` (HOST:PORT parsing, one-line errors), `pacing` (absolute deadlines
on the audio clock), `livelink` (Live Link Face packets, `avatar.io.livelink_packet`), `vmc` (VMC protocol
over OSC, python-osc), `microphone` (sounddevice/PortAudio). `emoavatar stream` wires them together.
"""
