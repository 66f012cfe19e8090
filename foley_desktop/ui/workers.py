"""Running plain job functions off the GUI thread.

`Task` runs one callable in a QThreadPool and reports back through queued signals (the signal
object lives in the GUI thread, so Qt marshals every emit from the worker). The pool is handed
the task's bound `run`, not a QRunnable: PySide keeps a Python QRunnable that does not delete
itself alive for good once a pool has started it, which leaked every task (and the project
snapshot and results it held). Job functions are
the same plain functions the CLI calls: they take `progress` and `cancel`
(`foley_desktop.jobs`). `JobQueue` adds what the jobs panel shows: queued / running / done /
failed / cancelled, progress with ETA, cancel and retry.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot

from foley_desktop.errors import Cancelled, FoleyError
from foley_desktop.jobs import CancelToken, Progress

log = logging.getLogger(__name__)

# Every pool the UI creates, so tests can check nothing is left running.
POOLS: list[QThreadPool] = []


def make_pool(max_threads: int, name: str) -> QThreadPool:
    pool = QThreadPool()
    pool.setMaxThreadCount(max_threads)
    pool.setObjectName(name)
    POOLS.append(pool)
    return pool


def lower_thread_priority(steps: int) -> None:
    """Run the calling thread `steps` nice levels below the app's main thread (Linux: per-thread
    nice; never raised back, so a pool thread reused by the same kind of work keeps it). The
    threads it starts afterwards (FFmpeg's decoding threads, ONNX Runtime's) inherit it.

    The layers, from first served to last under CPU contention: the GUI thread and the jobs
    (0), the preview's decoder (video_preview.DECODE_NICE, 5), the timeline's thumbnails
    (THUMB_NICE, 6): a thumbnail a second late costs little, an auto-spot or a seek that
    waits behind seventeen of them is what the editor is looking at."""
    try:
        tid = threading.get_native_id()
        target = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + steps)
        if os.getpriority(os.PRIO_PROCESS, tid) < target:
            os.setpriority(os.PRIO_PROCESS, tid, target)
    except (AttributeError, OSError):  # not Linux, or not allowed: keep the default
        pass


# The thumbnail worker's nice, relative to the main thread's: one step below the preview.
# Measured (trailer, auto-spot 37-39 s right after opening, medians): on a quiet machine 10
# and 6 gave the same auto-spot (2.8 s, 3.2 s at 0) and seek (0.04 s, 0.11 s at 0); next to
# two busy nice-10 processes of the same session 10 left the strip empty for 24 s (4.6 s at
# 0), 6 for 13 s, for an auto-spot of 5.5 s (6.2 s at 0).
THUMB_NICE = 6


class _Signals(QObject):
    progress = Signal(object)  # Progress
    done = Signal(object)  # result
    failed = Signal(object)  # BaseException


class Task:
    """Runs fn(*args, progress=..., cancel=..., **kwargs) (or without them: pass_job=False).

    Start it with `pool.start(task.run)`; keep a reference until it reports (done / failed).
    """

    def __init__(self, fn: Callable[..., Any], *args, pass_job: bool = True,
                 cancel: CancelToken | None = None, **kwargs) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.pass_job = pass_job
        self.cancel = cancel or CancelToken()
        self.signals = _Signals()

    def run(self) -> None:
        try:
            if self.cancel.cancelled:
                raise Cancelled("cancelled")
            if self.pass_job:
                result = self.fn(*self.args, progress=self.signals.progress.emit,
                                 cancel=self.cancel, **self.kwargs)
            else:
                result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI thread, never lost
            if not isinstance(exc, FoleyError):
                exc.ui_traceback = traceback.format_exc()  # type: ignore[attr-defined]
            self.signals.failed.emit(exc)
        else:
            self.signals.done.emit(result)


class Runner(QObject):
    """Fire-and-forget background calls with a callback on the GUI thread."""

    def __init__(self, pool: QThreadPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self._live: dict[int, Task] = {}  # submitted, not reported back yet
        self._keys = itertools.count()

    def submit(self, fn: Callable[..., Any], *args, on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None, pass_job: bool = False,
               cancel: CancelToken | None = None, **kwargs) -> Task:
        task = Task(fn, *args, pass_job=pass_job, cancel=cancel, **kwargs)
        key = next(self._keys)
        self._live[key] = task

        # Holds the key, not the task: a slot that referenced its own task would keep both
        # alive through the signal connection, where the garbage collector cannot see it.
        def finish(_=None, key=key):
            self._live.pop(key, None)

        if on_done:
            task.signals.done.connect(on_done)
        if on_error:
            task.signals.failed.connect(on_error)
        task.signals.done.connect(finish)
        task.signals.failed.connect(finish)
        self.pool.start(task.run)
        return task

    def shutdown(self) -> None:
        for t in list(self._live.values()):
            t.cancel.cancel()
        self.pool.clear()
        self.pool.waitForDone()
        self._live.clear()


class SerialWriter(QObject):
    """Runs writes one at a time on one background thread, newest state first.

    `submit(key, fn, *args)` queues fn(*args); a call still waiting under the same key is
    replaced (only the latest state of a file is worth writing: ten takes finishing during one
    slow save make one more save, not ten). Calls under different keys all run, in the order
    their keys were first queued. Results are kept until the GUI thread `collect()`s them; the
    `ready` signal says there are some. `wait()` blocks until nothing is queued or running
    (closing the window must not lose a save). With `min_interval` a write starts at least that
    many seconds after the previous one started (the first one after a quiet spell at once):
    a burst of requests then costs a few writes, not one each; `wait()` skips the pause.

    The thread is a plain Python thread waiting on a condition, started with the first write
    and joined by `shutdown()`: handing it a write is a dict store and a notify, with no Qt
    call that would let go of the GIL on the GUI thread and then wait to get it back.
    """

    ready = Signal()

    def __init__(self, name: str, parent: QObject | None = None,
                 min_interval: float = 0.0) -> None:
        super().__init__(parent)
        self.name = name
        self.min_interval = min_interval
        self._next_at = 0.0  # time.monotonic() before which no write starts
        self._hurry = False  # someone waits: write now
        self._cv = threading.Condition()
        self._pending: dict[Any, tuple] = {}  # key -> (fn, args, tag), insertion ordered
        self._running = False  # a write is in progress
        self._stop = False
        self._thread: threading.Thread | None = None
        self._results: list[tuple[Any, Any, Any, float]] = []  # (key, tag, result|exc, s)

    def submit(self, key: Any, fn: Callable[..., Any], *args, tag: Any = None) -> None:
        with self._cv:
            self._pending.pop(key, None)
            self._pending[key] = (fn, args, tag)
            if self._thread is None or not self._thread.is_alive():
                self._stop = False
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            self._cv.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while True:
                    if self._pending:
                        pause = self._next_at - time.monotonic()
                        if pause <= 0 or self._hurry or self._stop:
                            break
                        self._cv.wait(pause)
                    elif self._stop:
                        return  # nothing left to write
                    else:
                        self._cv.wait()
                key = next(iter(self._pending))
                fn, args, tag = self._pending.pop(key)
                self._running = True
                self._next_at = time.monotonic() + self.min_interval
            t0 = time.perf_counter()
            try:
                result = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the GUI thread
                if not isinstance(exc, FoleyError):
                    exc.ui_traceback = traceback.format_exc()  # type: ignore[attr-defined]
                result = exc
            with self._cv:
                self._results.append((key, tag, result, time.perf_counter() - t0))
                self._running = False
                self._cv.notify_all()
            self.ready.emit()

    def busy(self) -> bool:
        with self._cv:
            return self._running or bool(self._pending)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every queued write has run (True) or `timeout` seconds passed."""
        with self._cv:
            self._hurry = True
            self._cv.notify_all()
            try:
                return self._cv.wait_for(lambda: not self._running and not self._pending,
                                         timeout)
            finally:
                self._hurry = False

    def collect(self) -> list[tuple[Any, Any, Any, float]]:
        """The finished writes since the last call: (key, tag, result or exception, seconds)."""
        with self._cv:
            out, self._results = self._results, []
        return out

    def shutdown(self) -> None:
        """Finish what is queued, then stop and join the thread."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        self._thread = None


class _Throttle:
    """Passes a job's progress on at most once per `interval` s (and at every stage change):
    a sampler step every few ms must not become a repaint every few ms."""

    def __init__(self, emit: Callable[[Progress], None], interval: float) -> None:
        self.emit, self.interval = emit, interval
        self.last_t = -1e9
        self.last_stage: str | None = None

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if p.stage != self.last_stage or now - self.last_t >= self.interval:
            self.last_t, self.last_stage = now, p.stage
            self.emit(p)


QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


@dataclass(eq=False)  # a job is itself: compared and hashed by identity
class Job:
    id: int
    title: str
    fn: Callable[..., Any]
    args: tuple
    kwargs: dict
    state: str = QUEUED
    progress: Progress | None = None
    started: float | None = None
    finished: float | None = None
    result: Any = None
    error: str | None = None
    on_done: Callable[[Job], None] | None = None
    token: CancelToken = field(default_factory=CancelToken)

    @property
    def fraction(self) -> float:
        return 1.0 if self.state == DONE else (self.progress.fraction if self.progress else 0.0)

    @property
    def eta_s(self) -> float | None:
        return self.progress.eta_s if self.progress and self.state == RUNNING else None


class JobQueue(QObject):
    """Long jobs (generation, separation, export) with state the jobs panel shows."""

    jobAdded = Signal(object)
    jobChanged = Signal(object)
    stopped = Signal()  # shutdown(): views stop their timers
    jobsForgotten = Signal(list)  # ids of finished jobs dropped from the history

    # Finished jobs kept for the panel (and retry); older ones are forgotten in batches, so a
    # long session's queue does not grow without end.
    HISTORY = 500

    # Progress reaches the GUI at most 20 times a second per job.
    PROGRESS_INTERVAL_S = 0.05

    def __init__(self, max_parallel: int = 1, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # One inference at a time: ONNX Runtime already uses every core for one run.
        self.max_parallel = max_parallel
        self.pool = make_pool(max_parallel, "jobs")
        self.jobs: dict[int, Job] = {}
        self._tasks: dict[int, Task] = {}  # handed to the pool, not finished
        # Queued jobs wait here, not in the pool: queueing a hundred is a hundred appends, not a
        # hundred pool calls from the GUI thread (each lets go of the GIL and waits to get it
        # back from a busy worker), and cancelling one is a removal.
        self._waiting: collections.deque[Job] = collections.deque()
        self._ids = itertools.count(1)

    def submit(self, title: str, fn: Callable[..., Any], *args,
               on_done: Callable[[Job], None] | None = None, **kwargs) -> Job:
        job = Job(next(self._ids), title, fn, args, kwargs, on_done=on_done)
        self.jobs[job.id] = job
        self.jobAdded.emit(job)
        self._waiting.append(job)
        self._start_next()
        return job

    def _start_next(self) -> None:
        # One job beyond the running ones sits in the pool, so the next starts without waiting
        # for the GUI thread to hear that the last one finished.
        while self._waiting and len(self._tasks) < self.max_parallel + 1:
            self._start(self._waiting.popleft())

    def _start(self, job: Job) -> None:
        task = Task(self._wrap(job), pass_job=False, cancel=job.token)
        task.signals.progress.connect(lambda p, j=job: self._on_progress(j, p))
        task.signals.done.connect(lambda r, j=job: self._on_done(j, r))
        task.signals.failed.connect(lambda e, j=job: self._on_failed(j, e))
        self._tasks[job.id] = task
        self.pool.start(task.run)

    def _wrap(self, job: Job) -> Callable[[], Any]:
        def call():
            job.token.raise_if_cancelled()
            # `started` is written from the worker; the GUI only reads it for display.
            job.started = time.monotonic()
            task = self._tasks[job.id]
            progress = _Throttle(task.signals.progress.emit, self.PROGRESS_INTERVAL_S)
            progress(Progress("starting", 0, 1))
            return job.fn(*job.args, progress=progress, cancel=job.token, **job.kwargs)
        return call

    @Slot(object)
    def _on_progress(self, job: Job, p: Progress) -> None:
        if job.state in (QUEUED, RUNNING):
            job.state = RUNNING
            job.progress = p
            self.jobChanged.emit(job)

    def _forget_old(self) -> None:
        if len(self.jobs) <= self.HISTORY + 100:
            return
        finished = [j for j in self.jobs.values() if j.state in (DONE, FAILED, CANCELLED)]
        old = finished[:max(0, len(finished) - self.HISTORY)]
        for j in old:
            del self.jobs[j.id]
        if old:
            self.jobsForgotten.emit([j.id for j in old])

    def _on_done(self, job: Job, result: Any) -> None:
        self._tasks.pop(job.id, None)
        self._start_next()
        job.finished = time.monotonic()
        if job.token.cancelled:
            job.state = CANCELLED
        else:
            job.state, job.result = DONE, result
            if job.on_done:
                try:
                    job.on_done(job)
                except FoleyError as exc:
                    job.state, job.error = FAILED, str(exc)
        self.jobChanged.emit(job)
        self._forget_old()

    def _on_failed(self, job: Job, exc: BaseException) -> None:
        self._tasks.pop(job.id, None)
        self._start_next()
        job.finished = time.monotonic()
        if isinstance(exc, Cancelled) or job.token.cancelled:
            job.state, job.error = CANCELLED, None
        else:
            job.state = FAILED
            job.error = str(exc) if isinstance(exc, FoleyError) else (
                f"{type(exc).__name__}: {exc}")
            if not isinstance(exc, FoleyError):
                # A bug, not the user's input: keep its traceback in the log.
                log.error("job %r failed:\n%s", job.title,
                          getattr(exc, "ui_traceback", "") or f"{type(exc).__name__}: {exc}")
        self.jobChanged.emit(job)
        self._forget_old()

    def cancel(self, job_id: int) -> None:
        job = self.jobs[job_id]
        # Still waiting here: drop it. Already handed to the pool: its token stops it (as it
        # starts, for one still queued there; reported as cancelled either way).
        if job.state == QUEUED and job in self._waiting:
            self._waiting.remove(job)
            job.state = CANCELLED
            job.finished = time.monotonic()
            job.token.cancel()
            self.jobChanged.emit(job)
            self._start_next()
            self._forget_old()
            return
        job.token.cancel()

    def retry(self, job_id: int) -> Job:
        old = self.jobs[job_id]
        return self.submit(old.title, old.fn, *old.args, on_done=old.on_done, **old.kwargs)

    def active(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.state in (QUEUED, RUNNING)]

    def shutdown(self) -> None:
        for job in self.active():
            job.token.cancel()
        for job in self._waiting:
            job.state = CANCELLED
        self._waiting.clear()
        self.pool.clear()
        self.pool.waitForDone()
        self._tasks.clear()  # those cleared from the pool never report
        self.stopped.emit()
