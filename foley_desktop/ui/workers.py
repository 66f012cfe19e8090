"""Running plain job functions off the GUI thread.

`Task` runs one callable in a QThreadPool and reports back through queued signals (the signal
object lives in the GUI thread, so Qt marshals every emit from the worker). Job functions are
the same plain functions the CLI calls: they take `progress` and `cancel`
(`foley_desktop.jobs`). `JobQueue` adds what the jobs panel shows: queued / running / done /
failed / cancelled, progress with ETA, cancel and retry.
"""

from __future__ import annotations

import itertools
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from foley_desktop.errors import Cancelled, FoleyError
from foley_desktop.jobs import CancelToken, Progress

# Every pool the UI creates, so tests can check nothing is left running.
POOLS: list[QThreadPool] = []


def make_pool(max_threads: int, name: str) -> QThreadPool:
    pool = QThreadPool()
    pool.setMaxThreadCount(max_threads)
    pool.setObjectName(name)
    POOLS.append(pool)
    return pool


class _Signals(QObject):
    progress = Signal(object)  # Progress
    done = Signal(object)  # result
    failed = Signal(object)  # BaseException


class Task(QRunnable):
    """Runs fn(*args, progress=..., cancel=..., **kwargs) (or without them: pass_job=False)."""

    def __init__(self, fn: Callable[..., Any], *args, pass_job: bool = True,
                 cancel: CancelToken | None = None, **kwargs) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python owns it: we keep a reference until it reports
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
        self._live: set[Task] = set()

    def submit(self, fn: Callable[..., Any], *args, on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None, pass_job: bool = False,
               cancel: CancelToken | None = None, **kwargs) -> Task:
        task = Task(fn, *args, pass_job=pass_job, cancel=cancel, **kwargs)
        self._live.add(task)

        def finish(_=None, t=task):
            self._live.discard(t)

        if on_done:
            task.signals.done.connect(on_done)
        if on_error:
            task.signals.failed.connect(on_error)
        task.signals.done.connect(finish)
        task.signals.failed.connect(finish)
        self.pool.start(task)
        return task

    def shutdown(self) -> None:
        for t in list(self._live):
            t.cancel.cancel()
        self.pool.clear()
        self.pool.waitForDone()
        self._live.clear()


QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


@dataclass
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

    def __init__(self, max_parallel: int = 1, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # One inference at a time: ONNX Runtime already uses every core for one run.
        self.pool = make_pool(max_parallel, "jobs")
        self.jobs: dict[int, Job] = {}
        self._tasks: dict[int, Task] = {}
        self._ids = itertools.count(1)

    def submit(self, title: str, fn: Callable[..., Any], *args,
               on_done: Callable[[Job], None] | None = None, **kwargs) -> Job:
        job = Job(next(self._ids), title, fn, args, kwargs, on_done=on_done)
        self.jobs[job.id] = job
        self.jobAdded.emit(job)
        self._start(job)
        return job

    def _start(self, job: Job) -> None:
        task = Task(self._wrap(job), pass_job=False, cancel=job.token)
        task.signals.progress.connect(lambda p, j=job: self._on_progress(j, p))
        task.signals.done.connect(lambda r, j=job: self._on_done(j, r))
        task.signals.failed.connect(lambda e, j=job: self._on_failed(j, e))
        self._tasks[job.id] = task
        self.pool.start(task)

    def _wrap(self, job: Job) -> Callable[[], Any]:
        def call():
            job.token.raise_if_cancelled()
            # `started` is written from the worker; the GUI only reads it for display.
            job.started = time.monotonic()
            task = self._tasks[job.id]
            task.signals.progress.emit(Progress("starting", 0, 1))
            return job.fn(*job.args, progress=task.signals.progress.emit, cancel=job.token,
                          **job.kwargs)
        return call

    @Slot(object)
    def _on_progress(self, job: Job, p: Progress) -> None:
        if job.state in (QUEUED, RUNNING):
            job.state = RUNNING
            job.progress = p
            self.jobChanged.emit(job)

    def _on_done(self, job: Job, result: Any) -> None:
        self._tasks.pop(job.id, None)
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

    def _on_failed(self, job: Job, exc: BaseException) -> None:
        self._tasks.pop(job.id, None)
        job.finished = time.monotonic()
        if isinstance(exc, Cancelled) or job.token.cancelled:
            job.state, job.error = CANCELLED, None
        else:
            job.state = FAILED
            job.error = str(exc) if isinstance(exc, FoleyError) else (
                f"{type(exc).__name__}: {exc}")
            if not isinstance(exc, FoleyError):
                print(getattr(exc, "ui_traceback", ""))  # a bug: keep its traceback visible
        self.jobChanged.emit(job)

    def cancel(self, job_id: int) -> None:
        job = self.jobs[job_id]
        if job.state == QUEUED:
            task = self._tasks.get(job_id)
            if task is not None and self.pool.tryTake(task):
                self._tasks.pop(job_id, None)
                job.state = CANCELLED
                job.token.cancel()
                self.jobChanged.emit(job)
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
        self.pool.clear()
        self.pool.waitForDone()
