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


def thread_cpu_ticks() -> dict[str, int]:
    """CPU clock ticks (user + system) of each thread of this process (Linux), by name.

    Python threads are named as :mod:`threading` knows them (the kernel only knows
    "python"); Qt's and other native threads by the kernel's name, with the thread
    id appended when two share it.
    """
    import os
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    ticks: dict[str, int] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:  # ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        name = names.get(int(tid)) or stat[stat.index("(") + 1 : stat.rindex(")")]
        ticks[name if name not in ticks else f"{name}/{tid}"] = int(fields[11]) + int(fields[12])
    return ticks


def thread_cpu_share(before: dict[str, int], after: dict[str, int], seconds: float) -> dict[str, float]:
    """% of one core each thread used between two :func:`thread_cpu_ticks` readings ``seconds`` apart."""
    import os

    hz = os.sysconf("SC_CLK_TCK")
    return {name: (ticks - before.get(name, 0)) / hz / seconds * 100 for name, ticks in after.items()}
