"""Readings from whatever a hobby sketch prints: the parser for plain line devices.

A sketch written for itself, not for teleop, prints what its author found
handy. These all become readings, keyed as a user would expect:

    temp:21.5 hum:40       ->  {"temp": 21.5, "hum": 40}        (``key:value``)
    temp=21.5, hum=40      ->  {"temp": 21.5, "hum": 40}        (``key=value``, any separators)
    512,300,1              ->  {"v0": 512, "v1": 300, "v2": 1}  (or named by ``columns``)
    512                    ->  {"value": 512}                   (a bare number; ``columns[0]`` if given)

Anything else is not a reading (a greeting, a debug message): the caller
counts it and shows it at a bounded rate. Never raises.
"""

from __future__ import annotations

import re

from teleop_server.rules.serial_protocol import number

_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_.]{0,31})\s*[:=]\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
_SEPARATORS = re.compile(r"[\s,;|]*")
_SPLIT = re.compile(r"[\s,;|]+")
#: More values than this on one line is not a sketch's report but noise.
MAX_VALUES = 32


def parse_plain_line(text: str, columns: tuple[str, ...] = ()) -> dict[str, int | float] | None:
    """The readings on one line, or None if it holds none."""
    text = text.strip()
    if not text:
        return None
    if ":" in text or "=" in text:
        pairs = _PAIR.findall(text)
        if not pairs or len(pairs) > MAX_VALUES or not _SEPARATORS.fullmatch(_PAIR.sub("", text)):
            return None
        values = {key: number(value) for key, value in pairs}
        return None if any(v is None for v in values.values()) else values  # type: ignore[return-value]
    fields = [field for field in _SPLIT.split(text) if field]
    if len(fields) > MAX_VALUES:
        return None
    numbers = [number(field) for field in fields]
    if any(n is None for n in numbers):
        return None
    if len(numbers) == 1 and not columns:
        return {"value": numbers[0]}  # type: ignore[dict-item]
    names = [columns[i] if i < len(columns) else f"v{i}" for i in range(len(numbers))]
    return dict(zip(names, numbers, strict=True))  # type: ignore[arg-type]
