"""ONNX Runtime's quantizer logs advice ("please consider pre-processing") on the root logger;
the quantize report says what matters, so that chatter is muted while it runs (logs.py)."""

from __future__ import annotations

from foley_desktop.logs import quiet_third_party as quiet

__all__ = ["quiet"]
