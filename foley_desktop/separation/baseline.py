"""The naive baseline: RNNoise's output taken as the dialogue, the residual as background.

Kept as a backend so the evaluation can run it side by side with the default backend, and
so a user can compare by ear. Each channel is denoised on its own.
"""

from __future__ import annotations

import numpy as np

from foley_desktop.separation import rnnoise
from foley_desktop.separation.base import Separator, register


class RNNoiseSeparator(Separator):
    name = "rnnoise"

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        # Whole frames only: the library's two-frame delay plus up to one frame waiting.
        self.latency = rnnoise.DELAY + rnnoise.FRAME
        self._rn = [rnnoise.RNNoise() for _ in range(channels)]
        self._out = np.zeros((channels, rnnoise.FRAME), np.float32)  # extra frame of delay
        self._x = np.zeros((channels, self.latency), np.float32)  # input, delayed alike

    def process_block(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        block = np.atleast_2d(np.asarray(block, np.float32))
        n = block.shape[1]
        outs = [r.process(block[c])[0] for c, r in enumerate(self._rn)]
        self._out = np.concatenate([self._out, np.stack(outs)], axis=1)
        self._x = np.concatenate([self._x, block], axis=1)
        # RNNoise returned whole frames only; its output, already DELAY late, is padded by
        # one frame so that n samples are always available.
        d = self._out[:, :n]
        x = self._x[:, :n]
        self._out = self._out[:, n:]
        self._x = self._x[:, n:]
        return d, x - d


@register("rnnoise", "naive baseline: RNNoise output as dialogue, residual as background")
def _make_rnnoise(channels: int, **options) -> Separator:
    return RNNoiseSeparator(channels, **options)
