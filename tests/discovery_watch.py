"""The app's robot discovery in its own process (run inside a test's network namespace).

Prints one JSON line per change of the robot list: the event and the whole
list. ``--gui`` runs the real main window and Settings dialog on the display
in $DISPLAY and lists the dialog's "robots on this network" rows instead;
then "popup" on stdin opens the connection bar's drop-down (answered with a
"popup" line once it shows), and choosing a robot there prints "chosen".
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import threading
import time


def say(**fields) -> None:
    print(json.dumps({**fields, "t": time.time()}), flush=True)


def snapshot(directory) -> list[dict]:
    return [dataclasses.asdict(robot) for robot in directory.robots()]


async def watch_model() -> None:
    from teleop.desktop.net.discovery import RobotBrowser, RobotDirectory

    directory = RobotDirectory()
    for kind in ("appeared", "updated", "gone", "removed"):
        getattr(directory.events, kind).connect(lambda robot, kind=kind: say(event=kind, key=robot.key, robots=snapshot(directory)))
    browser = RobotBrowser(directory)
    say(event="ready", ok=await browser.start(), problem=directory.problem)
    try:
        await asyncio.Event().wait()
    finally:
        await browser.stop()


async def watch_gui(app) -> None:
    from PySide6.QtCore import QSettings

    from teleop.desktop.gui.adapter import QtAdapter
    from teleop.desktop.gui.main_window import MainWindow
    from teleop.desktop.gui.robot_list import network_robots, start_browsing, stop_browsing
    from teleop.desktop.gui.settings_dialog import SettingsDialog
    from teleop.desktop.models.appsettings import AppSettings

    settings = AppSettings(host="192.168.1.40", port=8765, recent=["192.168.1.40:8765", "rover.local:8765"])
    from teleop.desktop.session.teleop_model import TeleopModel

    adapter = QtAdapter(TeleopModel(settings))
    window = MainWindow(adapter, QSettings(sys.argv[2], QSettings.Format.IniFormat))
    window.move(0, 0)
    window.show()
    dialog = SettingsDialog(settings, adapter.model.drive, [], window)
    dialog.move(620, 60)
    dialog.show()
    directory = network_robots()

    def changed(robot, kind: str) -> None:
        say(event=kind, key=robot.key, robots=snapshot(directory), rows=dialog.findChild(RobotsOnNetwork).rows())

    from teleop.desktop.gui.robot_list import RobotsOnNetwork

    for kind in ("appeared", "updated", "gone", "removed"):
        getattr(directory.events, kind).connect(lambda robot, kind=kind: changed(robot, kind))
    box = window.connection_bar.address
    box.chosen.connect(lambda url: say(event="chosen", url=url, text=box.currentText()))
    browser = await start_browsing()
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()
    threading.Thread(
        target=lambda: [loop.call_soon_threadsafe(commands.put_nowait, line.strip()) for line in sys.stdin], daemon=True
    ).start()
    say(event="ready", ok=browser.directory.problem == "", problem=browser.directory.problem)
    try:
        while True:
            command = await commands.get()
            if command == "popup":
                dialog.hide()
                box.showPopup()
                await asyncio.sleep(0.3)  # let the window manager map it before the screenshot
                say(event="popup", rows=box.popup.robots.rows(), recent=[box.itemText(i) for i in range(box.count())])
    finally:
        await stop_browsing()
        await adapter.shutdown()


def main() -> None:
    if sys.argv[1:2] == ["--gui"]:
        from PySide6.QtWidgets import QApplication

        from teleop.desktop.gui.event_loop import QtEventLoop

        app = QApplication([sys.argv[0], "-platform", "xcb"])
        with asyncio.Runner(loop_factory=lambda: QtEventLoop(app)) as runner:
            runner.run(watch_gui(app))
    else:
        asyncio.run(watch_model())


if __name__ == "__main__":
    main()
