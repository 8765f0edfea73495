#!/usr/bin/env python3
"""The desktop app measured from outside while a pilot drives it with the keyboard.

Starts the installed ``teleop --demo`` (the app with a bundled ``teleop-server``
and the simulated robot, its 640x480 30 fps camera included) on a real X display
(Xvfb, openbox, Qt's ``xcb`` plugin), drives it with keys typed by xdotool into
the window, and reads the app's own CPU from ``/proc/<pid>/stat``: the bundled
server is another process and is not counted. No gamepad: the app has no pad
file to wait on, and only its hotplug tick reads SDL. Four phases of ``--seconds`` each:

1. connected, the video shown;
2. connected, the video hidden (View > Video, Ctrl+Shift+V);
3. driving with the Right arrow held (the X server auto-repeats it; the
   control is re-sent at 50 Hz), the video hidden;
4. the same with the video shown.

Targets: connected <= 2 % of a core without video and <= 10 % with it; driving
at 50 Hz <= 6 % and <= 15 %. A screenshot of each phase goes to ``--shots``.

    .venv/bin/python bench/keyboard_bench.py [--seconds 15] [--shots DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests")]

from xdisplay import XDisplay, missing_tools  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def share(pid: int, seconds: float) -> float:
    """% of one core process ``pid`` used over the next ``seconds``."""
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    parser.add_argument("--shots", type=Path, default=Path(tempfile.gettempdir()) / "teleop-keyboard-bench")
    args = parser.parse_args()
    if missing_tools():
        raise SystemExit(f"needs: apt-get install {' '.join(missing_tools())}")
    teleop = shutil.which("teleop", path=str(Path(sys.executable).parent)) or shutil.which("teleop")
    if teleop is None:
        raise SystemExit("the teleop command is not installed in this environment (pip install -e '.[desktop]')")
    folder = Path(tempfile.mkdtemp())
    figures: dict[str, float] = {}
    with XDisplay() as display:
        app = subprocess.Popen(
            [teleop, "--demo", "--settings-file", str(folder / "bench.ini")],
            env=display.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            window = display.xdotool_output("search", "--sync", "--onlyvisible", "--name", "^teleop").split()[0]
            display.xdotool("windowactivate", "--sync", window)
            time.sleep(8)  # connected, readings and frames flowing, the first paints done

            def phase(name: str) -> None:
                time.sleep(1.0)
                figures[name] = share(app.pid, args.seconds)
                display.screenshot(args.shots / f"{name.replace(' ', '-')}.png")

            phase("connected, video shown")
            display.key("ctrl+shift+v")
            phase("connected, video hidden")
            display.key("ctrl+d")  # Drive > Enable driving
            x, y = window_origin(display, window)
            display.click(x + 40, y + 147)  # the Gamepad panel's title: keys drive there
            display.key_down("Right")
            phase("driving, video hidden")
            display.key("ctrl+shift+v")
            phase("driving, video shown")
            display.key_up("Right")
        finally:
            os.killpg(app.pid, signal.SIGTERM)
            app.wait(20)
    targets = {"connected, video shown": 10, "connected, video hidden": 2, "driving, video hidden": 6, "driving, video shown": 15}
    print("teleop --demo driven with the keyboard (xdotool) on Xvfb + openbox, Qt xcb; the app's process only")
    for name, value in figures.items():
        print(f"  CPU {name:28} {value:5.1f} % of a core   (target <= {targets[name]})")
    print(f"  screenshots: {args.shots}")


def window_origin(display: XDisplay, window: str) -> tuple[int, int]:
    """Where the window's inside starts on the screen."""
    values = dict(line.split("=", 1) for line in display.xdotool_output("getwindowgeometry", "--shell", window).splitlines() if "=" in line)
    return int(values["X"]), int(values["Y"])


if __name__ == "__main__":
    main()
