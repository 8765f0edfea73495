"""The replay bar: play/pause, a position slider and the speed, shown only while the server replays a recording."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from teleop.desktop.models.connection import ReplayState

#: The slider counts tenths of a second (QSlider holds integers).
STEPS_PER_SECOND = 10
SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 10.0)

#: ``steer(action, position, speed)``: what the bar asks of the server (TeleopModel.steer_replay).
Steer = Callable[[str, float | None, float | None], None]


class ReplayBar(QWidget):
    """Hidden until a status says the server replays; follows the status, and asks the server to steer."""

    def __init__(self, steer: Steer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.steer = steer
        self.state: ReplayState | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.play = QPushButton("Pause")
        self.play.setObjectName("replayPlay")
        self.play.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space stays the emergency stop
        self.play.clicked.connect(self._play_clicked)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("replaySeek")
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.sliderReleased.connect(self._seek)
        self.position = QLabel("")
        self.speed = QComboBox()
        self.speed.setObjectName("replaySpeed")
        self.speed.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for speed in SPEEDS:
            self.speed.addItem(f"{speed:g}x", speed)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.activated.connect(lambda index: self.steer("speed", None, float(self.speed.itemData(index))))
        layout.addWidget(QLabel("Replay:"))
        layout.addWidget(self.play)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.position)
        layout.addWidget(self.speed)
        self.setVisible(False)

    def show_state(self, state: ReplayState | None) -> None:
        self.state = state
        self.setVisible(state is not None)
        if state is None:
            return
        self.play.setText("Pause" if state.playing else "Play")
        self.slider.setMaximum(round(state.duration * STEPS_PER_SECOND))
        if not self.slider.isSliderDown():  # the user is dragging it: leave it where they hold it
            self.slider.setValue(round(state.position * STEPS_PER_SECOND))
        self.position.setText(f"{state.position:.1f} s of {state.duration:.1f} s")
        index = self.speed.findData(state.speed)
        if index >= 0:
            self.speed.setCurrentIndex(index)

    def _play_clicked(self) -> None:
        self.steer("pause" if self.state is not None and self.state.playing else "play", None, None)

    def _seek(self) -> None:
        self.steer("seek", self.slider.value() / STEPS_PER_SECOND, None)
