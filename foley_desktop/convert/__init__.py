"""Conversion of HunyuanVideo-Foley checkpoints into model packages (needs the `train` extra).

Only this subpackage imports torch; the app and its default tests never do.
"""
