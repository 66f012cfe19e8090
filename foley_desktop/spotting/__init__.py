"""Spotting: where in the picture a sound belongs.

`markers.py` is the marker value shared by projects, the CLI and the engine's callers;
`detect.py` proposes markers from the picture (auto-spot); `evaluate.py` scores proposed
markers and generated takes against event times annotated on real footage.
"""
