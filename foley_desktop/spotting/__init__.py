"""Spotting: where in the picture a sound belongs.

`markers.py` is the marker value shared by projects, the CLI and the engine's callers;
`detect.py` proposes markers from the picture (auto-spot) from two cues, `motion.py` (motion
that stops, by dense optical flow) and `gait.py` (walkers' heel strikes); `onsets.py` finds
onsets in audio and scores them against markers (a take's sync score); `evaluate.py` measures
auto-spot on real footage annotated by hand (resources/spotting/real_eval.json).
"""
