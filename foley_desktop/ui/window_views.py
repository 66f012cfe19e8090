"""The main window's views of the open project: picture, lanes (waveforms, stems), segments
with their active takes, the title; the timeline's thumbnails. Decoding runs on workers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from foley_desktop.app.audio_cache import load_lane_audio
from foley_desktop.media.timebase import frame_to_samples
from foley_desktop.ui.timeline import SegmentItem
from foley_desktop.ui.video_preview import to_qimage
from foley_desktop.ui.workers import THUMB_NICE, lower_thread_priority

THUMB_H = 42
NOT_SEPARATED = "Not separated yet (File ▸ Separate)"
NO_AUDIO_TO_SEPARATE = "No audio to separate: the clip has no sound"


def _thumb_job(path: str, t: int, size: tuple[int, int], frame: int, wanted: set) -> tuple:
    from foley_desktop.media.decode import read_frame_at

    if frame not in wanted:  # scrolled away before its turn came: skip the decode
        return frame, None
    # Below the jobs and the preview: a clip's first thumbnails run while the editor's first
    # auto-spot or seek does (workers.lower_thread_priority).
    lower_thread_priority(THUMB_NICE)
    return frame, to_qimage(read_frame_at(path, t, size))


def _read_take(path: Path) -> np.ndarray:
    from foley_desktop.media.decode import read_audio

    return read_audio(path, mono=True)[0]


class ProjectViewsMixin:
    """MainWindow's project -> views updates (Document.opened / changed) and thumbnails."""

    def _project_opened(self) -> None:
        info, proj = self.doc.info, self.doc.project
        fps = self.doc.fps
        v = info.video
        self.transport.set_media(proj.duration_samples, fps)
        self.preview.set_media(str(proj.media), fps, v.display_width, v.display_height,
                               proj.duration_samples)
        self.canvas.set_media(proj.duration_samples, fps, v.display_width / v.display_height)
        self._thumb_pending.clear()
        self.take_audio.clear()  # the previous project's takes (decoded audio, waveforms)
        self.playback.mixer.clear()
        self.mark_in = None
        self.canvas.set_mark_in(None)
        self._stem_paths.clear()
        self.canvas.set_speech(proj.speech)
        for key in ("dialogue", "background"):
            self.canvas.set_lane(key, None,
                                 NOT_SEPARATED if info.audio is not None else NO_AUDIO_TO_SEPARATE)
        if info.audio is None:
            self.canvas.set_lane("original", None, "This clip has no audio")
        else:
            self.canvas.set_lane("original", None, "Reading waveform…")
            self._load_lane("original", str(proj.media))
        self._load_stems()
        self._update_title()

    def _load_lane(self, key: str, path: str) -> None:
        media = str(self.doc.project.media)

        def got(result, k=key, m=media) -> None:
            ov, bed = result
            if self.doc.project is not None and str(self.doc.project.media) == m:
                self.canvas.set_lane(k, ov)
                self._bed_ready(k, m, bed)

        def failed(exc, k=key) -> None:
            self.canvas.set_lane(k, None, f"Cannot read audio: {exc}")

        # One streaming decode into the disk cache: the overview, and a memory-mapped float32
        # copy for playback (an hour of stereo would be 1.4 GB in memory). Partial overviews
        # arrive through a queued signal while it runs, so long clips draw as they decode.
        self.bg.submit(load_lane_audio, path, self.settings.cache_dir, on_done=got,
                       on_error=failed, pass_job=True,
                       partial=lambda ov, k=key, m=media: self.overviewPartial.emit(k, m, ov))

    def _overview_partial(self, key: str, media: str, ov) -> None:
        current = self.canvas.overviews.get(key)
        if (self.doc.project is None or str(self.doc.project.media) != media
                or (current is not None and current.complete)):
            return  # another clip by now, or the finished overview already arrived
        self.canvas.set_lane(key, ov)

    def _bed_ready(self, key: str, media: str, audio: np.ndarray) -> None:
        if self.doc.project is not None and str(self.doc.project.media) == media:
            self.playback.mixer.set_bed(key, audio)

    def _load_stems(self) -> None:
        """Bring the stem lanes in line with project.stems (after separation, undo, redo)."""
        stems = self.doc.project.stems or {}
        for key in ("dialogue", "background"):
            path = stems.get(key)
            if path is not None and Path(path).exists():
                if self._stem_paths.get(key) != str(path):
                    self._stem_paths[key] = str(path)
                    self.canvas.set_lane(key, None, "Reading waveform…")
                    self._load_lane(key, str(path))
            elif key in self._stem_paths:
                del self._stem_paths[key]
                self.canvas.set_lane(key, None, NOT_SEPARATED)
                self.playback.mixer.drop_bed(key)
        self.canvas.refresh()

    def _project_changed(self) -> None:
        proj = self.doc.project
        if proj is None:
            return
        items = []
        clips = []
        self.take_audio.retain(seg.active().path for seg in proj.segments
                               if seg.active() is not None)
        for seg in proj.segments:
            take = seg.active()
            ov = None
            if take is not None:
                audio = self.take_audio.audio(take.path)
                if audio is None:
                    self._load_take(Path(take.path))
                else:
                    ov = self.take_audio.overview(take.path, seg.start)
                    clips.append((seg.start, audio[: seg.length]))
            marks = tuple((m.time, m.kind, m.source, float(m.strength))
                          for m in seg.markers_inside())
            items.append(SegmentItem(seg.id, seg.start, seg.end, seg.prompt, len(seg.takes), ov,
                                     marks))
        self.canvas.set_segments(items)
        self.canvas.set_speech(proj.speech)
        self.playback.mixer.set_clips(clips)
        self._load_stems()
        self.inspector.set_selection(self.canvas.selected)
        self._update_title()

    def _load_take(self, path: Path) -> None:
        if not self.take_audio.start_loading(path):
            return

        def done(audio, p=path):
            self.take_audio.loaded(p, audio)
            self._project_changed()

        self.bg.submit(_read_take, path, on_done=done,
                       on_error=lambda e, p=path: self.take_audio.loaded(p, None))

    def _update_title(self, *_args) -> None:
        proj = self.doc.project
        if proj is None:
            self.setWindowTitle("Foley Desktop")
            return
        name = proj.path.name if proj.path else proj.clip_name
        dirty = "" if self.doc.undo_stack.isClean() else " *"
        self.setWindowTitle(f"{name}{dirty} — Foley Desktop")

    # ------------------------------------------------------------------ thumbnails
    def _want_thumbs(self, frames: list[int]) -> None:
        proj = self.doc.project
        if proj is None:
            return
        self._thumb_wanted.clear()
        self._thumb_wanted.update(frames)
        h = THUMB_H
        size = (max(2, int(h * self.canvas.thumb_aspect) // 2 * 2), h)
        for f in frames:
            if f in self._thumb_pending:
                continue
            self._thumb_pending.add(f)
            self.thumb_runner.submit(_thumb_job, str(proj.media),
                                     frame_to_samples(f, self.doc.fps), size, f,
                                     self._thumb_wanted, on_done=self._thumb_ready,
                                     on_error=lambda e: None)

    def _thumb_ready(self, result) -> None:
        frame, image = result
        self._thumb_pending.discard(frame)
        if image is not None:
            self.canvas.add_thumb(frame, image)
