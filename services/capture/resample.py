"""Streaming sample-rate conversion with numpy only (no scipy on room machines).

A windowed-sinc low-pass (cut just below the lower Nyquist frequency) followed by
linear interpolation on the output grid. Good enough for speech recognition, exact in
sample count (``round(n_in * out / in)`` within one sample), and block-size independent.
"""

from __future__ import annotations

import numpy as np

_TAPS = 63


def _lowpass(cutoff: float) -> np.ndarray:
    """FIR low-pass, ``cutoff`` as a fraction of the input sample rate (0 < cutoff < 0.5)."""
    n = np.arange(_TAPS) - (_TAPS - 1) / 2
    taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(_TAPS)
    return taps / taps.sum()


class Resampler:
    """Feed blocks of float samples with ``process``; call ``finish`` once at the end."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        self.step = rate_in / rate_out  # input samples per output sample
        cutoff = 0.45 * min(rate_in, rate_out) / rate_in
        self.taps = _lowpass(cutoff) if rate_out < rate_in else None
        self.delay = (_TAPS - 1) // 2 if self.taps is not None else 0
        self._fir_tail = np.zeros(_TAPS - 1) if self.taps is not None else np.zeros(0)
        self._buf = np.zeros(0)  # filtered samples not yet fully consumed
        self._buf_start = 0  # absolute index (in filtered samples) of _buf[0]
        self._out = 0  # output samples produced so far (position = _out * step)
        self._seen = 0

    def _filter(self, block: np.ndarray) -> np.ndarray:
        if self.taps is None:
            return block
        joined = np.concatenate([self._fir_tail, block])
        self._fir_tail = joined[len(joined) - (_TAPS - 1) :]
        return np.convolve(joined, self.taps, mode="valid")

    def process(self, block: np.ndarray) -> np.ndarray:
        self._seen += len(block)
        self._buf = np.concatenate([self._buf, self._filter(block)])
        return self._emit(final=False)

    def finish(self) -> np.ndarray:
        """Flush the filter delay line; the output then covers the whole input."""
        if self.taps is not None:
            self._buf = np.concatenate([self._buf, self._filter(np.zeros(self.delay))])
        return self._emit(final=True)

    def _emit(self, final: bool) -> np.ndarray:
        # Output sample k sits at input position k * step; filtered sample j corresponds to
        # input sample j - delay. Interpolation needs filtered samples floor(p) and p + 1.
        end = self._buf_start + len(self._buf)
        if final:
            stop = int(round(self._seen / self.step))
        else:
            stop = int(np.ceil((end - 1 - self.delay) / self.step))
            while stop > self._out and (stop - 1) * self.step + self.delay + 1 >= end:
                stop -= 1
        if stop <= self._out:
            return np.zeros(0)
        idx = np.arange(self._out, stop) * self.step + self.delay - self._buf_start
        lo = np.minimum(np.floor(idx).astype(np.int64), len(self._buf) - 1)
        frac = idx - np.floor(idx)
        hi = np.minimum(lo + 1, len(self._buf) - 1)
        out = self._buf[lo] * (1 - frac) + self._buf[hi] * frac
        self._out = stop
        keep_from = int(np.floor(stop * self.step + self.delay)) - self._buf_start - 1
        drop = max(0, min(keep_from, len(self._buf)))
        self._buf = self._buf[drop:]
        self._buf_start += drop
        return out
