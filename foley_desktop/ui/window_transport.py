"""The main window's transport: seek, play / stop, the J/K/L shuttle, the audio device as the
clock (`Playback`), the playhead and the mixer's lanes.
"""

from __future__ import annotations


class TransportMixin:
    """MainWindow's playback wiring: transport, audio playback and mixer."""

    def seek(self, t: int) -> None:
        was = self.transport.playing
        if was:
            self.stop()
        self.transport.seek(t)
        if was:
            self.toggle_play()

    def toggle_play(self) -> None:
        if self.transport.playing:
            self.stop()
        else:
            self._shuttle(1, restart=True)

    def _shuttle(self, direction: int, restart: bool = False) -> None:
        if self.doc.project is None:
            return
        if restart or not self.transport.playing:
            self.transport.play(direction)
        else:
            self.transport.shuttle(direction)
        self.playback.stop()
        self.transport.follow(None)
        if self.playback.start(self.transport.position, self.transport.rate):
            self.transport.follow(self.playback.position)
        elif not self.playback.available:
            self.statusBar().showMessage(self.playback.reason + " — playing picture only", 4000)

    def stop(self) -> None:
        self.transport.stop()
        self.playback.stop()
        self.transport.follow(None)

    def _playing_changed(self, playing: bool) -> None:
        self.preview.play_btn.setText("⏸" if playing else "▶")
        if not playing:
            self.playback.stop()
            self.transport.follow(None)

    def _position_changed(self, t: int) -> None:
        # Followed while paused too: a jump (a marker, Home/End, a second) off a zoomed view
        # scrolls to it; a click in view changes nothing.
        self.canvas.set_playhead(t, follow=True)

    def _mix_changed(self, key: str, gain_db: float, mute: bool, solo: bool) -> None:
        self.playback.mixer.set_lane(key, gain_db, mute, solo)
