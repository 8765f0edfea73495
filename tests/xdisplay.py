"""A real X display for GUI tests and benches: Xvfb, the openbox window manager, xdotool to type, import to look.

Qt then runs on its real ``xcb`` platform plugin, with real focus handling and
key events typed into whatever widget has the focus, as on a user's desktop.
One class for the test suite (tests/conftest.py) and the GUI bench.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

NEEDED = {"Xvfb": "xvfb", "openbox": "openbox", "xdotool": "xdotool", "import": "imagemagick"}


def missing_tools() -> list[str]:
    """Debian packages still to install for a real display (empty when all are there)."""
    return sorted({package for tool, package in NEEDED.items() if not shutil.which(tool)})


class XDisplay:
    """``with XDisplay() as display:`` starts Xvfb and openbox; :attr:`env` is the environment to use it."""

    def __init__(self, size: str = "1600x1000") -> None:
        self.size = size
        self.name = ""
        self._processes: list[subprocess.Popen] = []

    def __enter__(self) -> XDisplay:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, DISPLAY=self.name, QT_QPA_PLATFORM="xcb")

    def start(self) -> XDisplay:
        read, write = os.pipe()
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{self.size}x24", "-nolisten", "tcp", "-noreset"],
            pass_fds=(write,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write)
        self._processes.append(xvfb)
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()  # Xvfb writes its display number here once it accepts clients
        if not number:
            self.stop()
            raise RuntimeError("Xvfb did not start")
        self.name = f":{number}"
        openbox = subprocess.Popen(["openbox", "--sm-disable"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._processes.append(openbox)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # openbox owns the WM selection once it manages windows
            if self._wm_running():
                break
            time.sleep(0.05)
        return self

    def _wm_running(self) -> bool:
        result = (
            subprocess.run(["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=self.env, capture_output=True, text=True)
            if shutil.which("xprop")
            else None
        )
        if result is not None:
            return "window id" in result.stdout
        time.sleep(0.5)  # without xprop: give openbox a moment
        return True

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()

    # -- input and screenshots -----------------------------------------------------------------

    def xdotool(self, *args: str) -> None:
        subprocess.run(["xdotool", *args], env=self.env, check=True, capture_output=True)

    def xdotool_output(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True)
        if check and result.returncode:
            raise RuntimeError(result.stderr)
        return result.stdout

    def type(self, text: str) -> None:
        """Type into whatever has the keyboard focus, as a person would."""
        self.xdotool("type", "--delay", "20", text)

    def key(self, *keys: str) -> None:
        self.xdotool("key", "--delay", "20", *keys)

    def key_down(self, key: str) -> None:
        self.xdotool("keydown", key)

    def key_up(self, key: str) -> None:
        self.xdotool("keyup", key)

    def pointer(self) -> tuple[int, int]:
        """Where the pointer is now."""
        shell = dict(line.split("=", 1) for line in self.xdotool_output("getmouselocation", "--shell").split())
        return int(shell["X"]), int(shell["Y"])

    def click(self, x: int, y: int) -> None:
        """Move the pointer to (x, y), wait until it is there, and click. ``mousemove --sync`` to where the pointer
        already is waits for a motion that never comes (a second click on the same button), so it is left out then."""
        if self.pointer() != (x, y):
            self.xdotool("mousemove", "--sync", str(x), str(y))
        self.xdotool("click", "1")

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["import", "-window", "root", str(path)], env=self.env, check=True, capture_output=True)
        return path
