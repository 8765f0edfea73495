"""How often the server pushes readings: a bound for a flooding board, no delay for a jittery one."""

from __future__ import annotations

import itertools
import random

from teleop_server.rules.readings import Pace


def sends(pace: Pace, arrivals: list[float]) -> list[float]:
    """When each report goes out if every report is sent as soon as the pace allows (merging aside)."""
    out = []
    for t in arrivals:
        at = t + pace.delay(t)
        pace.sent(at)
        out.append(at)
    return out


def test_reports_at_50_hz_with_usb_jitter_go_out_without_waiting():
    rng = random.Random(7)
    arrivals = sorted(i * 0.020 + rng.uniform(0, 0.008) for i in range(5000))
    delays = [out - t for out, t in zip(sends(Pace(100, 3), arrivals), arrivals, strict=True)]
    assert max(delays) == 0.0


def test_a_fixed_gap_would_have_held_a_jittery_report_back():
    """The reason for the burst: the same arrivals through a 10 ms minimum gap wait several ms."""
    rng = random.Random(7)
    arrivals = sorted(i * 0.020 + rng.uniform(0, 0.018) for i in range(5000))
    gap = Pace(100, 1)
    assert max(out - t for out, t in zip(sends(gap, arrivals), arrivals, strict=True)) > 0.005
    burst = Pace(100, 3)
    assert max(out - t for out, t in zip(sends(burst, arrivals), arrivals, strict=True)) == 0.0


def test_a_flooding_board_is_held_to_the_rate_with_at_most_a_short_burst():
    pace = Pace(100, 3)
    out = sends(pace, [i * 0.0001 for i in range(10_000)])  # 10 000 reports a second for 1 s
    assert len([t for t in out if t <= 1.0]) <= 100 + 3
    assert out[:3] == [0.0, 0.0001, 0.0002], "the first few go at once"
    gaps = [b - a for a, b in itertools.pairwise(out[3:])]
    assert min(gaps) >= 0.01 - 1e-9
