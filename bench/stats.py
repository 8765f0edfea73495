"""Shared by the bench scripts: latency percentiles as one printable line."""

from __future__ import annotations

import statistics


def percentiles(samples: list[float]) -> str:
    """Samples in seconds -> 'n=... p50=... p99=... max=... mean=...' in milliseconds."""
    if not samples:
        return "no samples"
    ms = sorted(s * 1000 for s in samples)

    def at(q: float) -> float:
        return ms[min(len(ms) - 1, int(q * len(ms)))]

    return f"n={len(ms)}  p50={at(0.50):.2f} ms  p99={at(0.99):.2f} ms  max={ms[-1]:.2f} ms  mean={statistics.fmean(ms):.2f} ms"
