#!/usr/bin/env python3
"""What decoding the video costs, with each JPEG reader the app has, and what it does to the GIL.

For each reader (``simplejpeg``, libjpeg-turbo with its SIMD code; Qt's own) and
two 640x480 pictures (the sim camera's test card, and a busier one: noise over a
fractal), a process of its own decodes and scales frames to fit the video
panel (378x283) at 30 a second, as the app's decoding thread does, and prints
the CPU per frame. Paced, not in a tight loop: the caches are as cold as in the
app, which roughly doubles the cost.

Then the GIL: a thread sleeps 0.7 ms again and again while another decodes the
test card at 30 frames a second; how late the sleeper wakes is how long it
waited for Python's lock, as the GUI thread does with a control to send. A run
with no decoding gives the floor.

    .venv/bin/python bench/decode_bench.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from gui_bench import run_child  # noqa: E402
from stats import percentiles  # noqa: E402

FIT = (378, 283)
SLEEP_S = 0.0007


def pictures() -> dict[str, bytes]:
    from PIL import Image, ImageFilter

    from teleop_server.camera.simulated import TestPicture

    noise = Image.effect_noise((640, 480), 60).convert("RGB")
    fractal = Image.effect_mandelbrot((640, 480), (-2, -1.2, 1, 1.2), 100).convert("RGB")
    busy = Image.merge(
        "RGB",
        [
            Image.blend(fractal.getchannel(0), noise.getchannel(0), 0.4),
            fractal.getchannel(1).filter(ImageFilter.GaussianBlur(2)),
            noise.getchannel(2),
        ],
    )
    out = io.BytesIO()
    busy.save(out, "JPEG", quality=80)
    return {"test card": TestPicture(640, 480, 80).render(5), "busy picture": out.getvalue()}


def run_one(reader_name: str, picture: str, seconds: float, gil: bool) -> None:
    """In this process: prints the figures for :func:`gui_bench.run_child`."""
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QGuiApplication

    from teleop.desktop.gui import frame_decoder

    app = QGuiApplication([])  # noqa: F841 (Qt's image plugins)
    readers = {"simplejpeg": frame_decoder.decode_with_turbo, "qt": frame_decoder.decode_with_qt, "none": None}
    read = readers[reader_name]
    jpeg = pictures()[picture]
    fit = QSize(*FIT)
    if read is not None:
        for _ in range(30):
            read(jpeg, fit)
    if not gil:
        assert read is not None
        cpu0, t0, frames = time.process_time(), time.monotonic(), 0
        while time.monotonic() - t0 < seconds:
            read(jpeg, fit)
            frames += 1
            time.sleep(1 / 30)
        print("FIGURES " + json.dumps({"ms_per_frame": (time.process_time() - cpu0) / frames * 1000}))
        return
    stop = threading.Event()

    def decoding() -> None:
        while not stop.is_set():
            if read is not None:
                read(jpeg, fit)
            time.sleep(1 / 30)

    worker = threading.Thread(target=decoding)
    worker.start()
    late: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        time.sleep(SLEEP_S)
        late.append(time.perf_counter() - t - SLEEP_S)
    stop.set()
    worker.join()
    print("FIGURES " + json.dumps({"late": percentiles(late)}))


def child(reader: str, picture: str, seconds: float, gil: bool) -> dict:
    command = [sys.executable, __file__, "--one", reader, picture, "--seconds", str(seconds), *(["--gil"] if gil else [])]
    return run_child(command, "offscreen", dict(os.environ), timeout=seconds + 60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measurement")
    parser.add_argument("--one", nargs=2, metavar=("READER", "PICTURE"), help=argparse.SUPPRESS)
    parser.add_argument("--gil", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one[0], args.one[1], args.seconds, args.gil)
        return
    print(f"decode and scale 640x480 to fit {FIT[0]}x{FIT[1]}, 30 frames a second, CPU per frame (ms), each in its own process")
    for picture in ("test card", "busy picture"):
        row = {reader: child(reader, picture, args.seconds, False)["ms_per_frame"] for reader in ("simplejpeg", "qt")}
        print(f"  {picture:14s} simplejpeg {row['simplejpeg']:.2f}   Qt's reader {row['qt']:.2f}")
    print(f"how late a thread sleeping {SLEEP_S * 1000:.1f} ms wakes while the test card decodes (waiting for the GIL), ms")
    for reader in ("none", "simplejpeg", "qt"):
        late = child(reader, "test card", args.seconds, True)["late"]
        print(f"  {'no decoding' if reader == 'none' else reader:14s} {late}")


if __name__ == "__main__":
    main()
