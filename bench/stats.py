"""Shared by the bench scripts: latency percentiles as one printable line, and a process's memory."""

from __future__ import annotations

import statistics


def rss_kib(pid: int) -> int:
    """Resident memory of process ``pid`` (Linux), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def percentiles(samples: list[float]) -> str:
    """Samples in seconds -> 'n=... p50=... p99=... max=... mean=...' in milliseconds."""
    if not samples:
        return "no samples"
    ms = sorted(s * 1000 for s in samples)

    def at(q: float) -> float:
        return ms[min(len(ms) - 1, int(q * len(ms)))]

    return f"n={len(ms)}  p50={at(0.50):.2f} ms  p99={at(0.99):.2f} ms  max={ms[-1]:.2f} ms  mean={statistics.fmean(ms):.2f} ms"
