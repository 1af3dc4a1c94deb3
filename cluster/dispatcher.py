"""The server's side of a cluster: takes prompts from the one queue, validates them here, sends each to the worker
the routing rule picks, relays the worker's events to the client as they come, files the result, and runs a prompt
again elsewhere when its worker dies under it."""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from graph_engine import Engine, RunError, ValidationReport
from graph_engine.prompt_queue import PromptQueue, QueueItem
from web.client_hub import ClientHub
from web.progress_state import PromptProgress
from web.run_reporter import RunReporter
from web.runner import WorkerStatus
from web.security import PathRedactor

from .engine_worker import DONE, EVENT, FILE, REFUSED, WorkerReport
from .output_files import ReceivedFiles
from .ray_runtime import ROUND_ROBIN, ClusterSettings, RayCluster
from .routing import WorkerView, choose_worker, next_in_turn
from .shared_results import SharedResult, SharedResults

log = logging.getLogger(__name__)

STARTING, IDLE, RUNNING, RESTARTING, REMOVED = "starting", "idle", "running", "restarting", "removed"
RECENT_PROMPTS = 50  # prompt ids /cluster lists for each worker: what ran where
READY_POLL_S = 0.2  # how often a restarting worker is asked whether it is back
FREE_TIMEOUT_S = 60.0  # how long /free waits for each worker


@dataclass
class Worker:
    """The dispatcher's record of one actor."""

    name: str
    actor: Any
    state: str = STARTING
    report: WorkerReport | None = None
    running: QueueItem | None = None
    loading: frozenset[str] = frozenset()  # the model results of the prompt it runs: it will hold them soon
    deaths: int = 0
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_PROMPTS))  # prompts it ran to the end

    def view(self, estimates: dict[str, float], unknown_s: float) -> WorkerView:
        """What it holds, and the models it is loading now, counted at what they took elsewhere (or `unknown_s`):
        the next prompt for a checkpoint waits for the worker loading it rather than load it a second time."""
        held = {entry.key: entry.seconds for entry in self.report.cache.entries} if self.report else {}
        for key in self.loading:
            held.setdefault(key, estimates.get(key, unknown_s))
        return WorkerView(self.name, self.state == IDLE, held)


@dataclass
class Job:
    """A prompt taken from the queue, with the runs it has had on workers that died."""

    item: QueueItem
    keys: dict[str, bool]  # its results' cache keys (matched against the workers' caches): whether each is a model
    tries: int = 0
    shared: list[SharedResult] = field(default_factory=list)  # other workers' results its worker is given
    cancelled: bool = False
    started: float = field(default_factory=time.monotonic)


class ClusterDispatcher:
    """Runs queued prompts on the cluster's workers, one prompt per worker at a time."""

    def __init__(self, engine: Engine, queue: PromptQueue, hub: ClientHub, redact: PathRedactor, cluster: RayCluster,
                 settings: ClusterSettings) -> None:
        self.engine = engine
        self.queue = queue
        self.hub = hub
        self.cluster = cluster
        self.settings = settings
        self.validation_lock = threading.Lock()
        self._stopping = threading.Event()
        self.reporter = RunReporter(queue, hub, redact, self._stopping)
        self._changed = threading.Condition()  # guards the workers' states and the waiting jobs
        self._workers = [Worker(name, actor) for name, actor in cluster.actors.items()]
        self._shared = SharedResults(settings.shared_results_bytes)  # results any worker may take, by key
        self._waiting: list[Job] = []  # taken from the queue (or run again), oldest first, waiting for a worker
        self._queued = True  # the queue may hold prompts (those kept from the last run, or queued since)
        self._last_started: QueueItem | None = None
        self._last_chosen: str | None = None  # the worker the last prompt went to (round-robin's turn)
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._loop, name="latentloom-dispatcher", daemon=True)

    # --- the server's side (web.runner.PromptRunner)

    def validate(self, prompt: Any, targets: list[str] | None = None) -> ValidationReport:
        with self.validation_lock:
            return self.engine.validate(prompt, targets)

    def start(self) -> None:
        for worker in self._workers:
            self._spawn(self._await_ready, worker)
        self._thread.start()

    def notify(self) -> None:
        with self._changed:
            self._queued = True
            self._changed.notify_all()

    def interrupt(self, prompt_id: str | None = None) -> bool:
        matched = False
        with self._changed:
            for job in self._waiting:
                if prompt_id in (None, job.item.prompt_id):
                    job.cancelled = True  # it goes to the first idle worker, which stops it at once
                    matched = True
            self._changed.notify_all()
            running = [(w.actor, w.running.prompt_id) for w in self._workers if w.running is not None
                       and w.state == RUNNING and prompt_id in (None, w.running.prompt_id)]
        for actor, running_id in running:
            actor.interrupt.remote(running_id)
        return matched or bool(running)

    def running_client(self) -> str | None:
        item = self._last_started
        return item.client_id if item is not None else None

    def workers(self) -> list[WorkerStatus]:
        with self._changed:
            return [self._status(w) for w in self._workers]

    @staticmethod
    def _status(worker: Worker) -> WorkerStatus:
        running = worker.running.prompt_id if worker.running else None
        report = worker.report
        if report is None:  # starting, restarting or taken out: nothing known of it now
            return WorkerStatus(worker.name, worker.state, running=running, recent=tuple(worker.recent))
        return WorkerStatus(worker.name, worker.state, device=report.device, gpu_ids=report.gpu_ids,
                            host=report.host, pid=report.pid,
                            running=running, runs=report.runs, model_loads=report.model_loads,
                            recent=tuple(worker.recent), cache=report.cache)

    def free(self, drop_results: bool, unload: bool) -> None:
        """On every worker that is up; dropping results forgets the shared ones too."""
        with self._changed:
            up = [w for w in self._workers if w.state in (IDLE, RUNNING)]
            if drop_results:
                self._shared = SharedResults(self.settings.shared_results_bytes)
        calls = {w.name: w.actor.free.remote(drop_results, unload) for w in up}
        for worker in up:
            try:
                report = self.cluster.ray.get(calls[worker.name], timeout=FREE_TIMEOUT_S)
            except Exception as exc:  # a worker that died or hangs frees nothing; the others did
                log.warning("worker %s did not free its memory: %s", worker.name, exc)
                continue
            with self._changed:
                if worker.report is not None:
                    worker.report = report

    def stop(self, timeout: float = 5.0) -> None:
        """Interrupt the running prompts, file them, and stop the runtime. Prompts still in the queue stay there; those
        taken from it but not yet sent to a worker are filed as interrupted at the next start (as a running one whose
        worker outlived the wait is)."""
        self._stopping.set()
        self.interrupt()
        self.notify()
        deadline = time.monotonic() + timeout
        for thread in [self._thread, *self._threads]:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.cluster.shutdown()

    # --- dispatching

    def _spawn(self, target: Callable, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"latentloom-{target.__name__.strip('_')}",
                                  daemon=True)
        with self._changed:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _loop(self) -> None:
        """Send waiting jobs where the rule says; take another prompt from the queue while a worker is idle and
        fewer jobs wait than there are workers (so a prompt held for a busy warm worker does not hold back the
        next, which may go to the idle one); else wait for a change."""
        while not self._stopping.is_set():
            with self._changed:
                self._assign_waiting()
                live = [w for w in self._workers if w.state != REMOVED]
                orphans, self._waiting = (self._waiting, []) if not live else ([], self._waiting)
                room = not live or (any(w.state == IDLE for w in live) and len(self._waiting) < len(live))
                if not orphans and not (room and self._queued):
                    self._changed.wait(self._next_deadline())
                    continue
                self._queued = False  # before the take: a prompt queued after it sets this again
            for job in orphans:
                self._file_unrunnable(job.item)
            try:
                self._take()
            except Exception:  # the dispatcher must outlive any prompt
                log.exception("taking the next prompt failed")

    def _take(self) -> None:
        """The queue's next prompt: validated here (bad input never reaches a worker), then waiting for one."""
        item = self.reporter.when_stored(self.queue.take)
        if item is None:
            return
        with self._changed:
            self._queued = True  # there may be more behind it
        self.hub.queue_changed_threadsafe()
        try:
            report = self.validate(item.prompt, item.outputs_to_execute or None)
            if not report.outputs:  # files changed since it was queued
                self.reporter.file(item, {}, self.reporter.refused(item, report))
                self.hub.queue_changed_threadsafe()
                return
            keys = self.engine.result_keys(report)
        except Exception as exc:
            log.exception("prompt %s failed outside any node", item.prompt_id)
            self.reporter.file(item, *self.reporter.crashed(item, exc))
            self.hub.queue_changed_threadsafe()
            return
        with self._changed:
            if any(w.state != REMOVED for w in self._workers):
                self._waiting.append(Job(item, keys))
                return
        self._file_unrunnable(item)

    def _assign_waiting(self) -> None:
        """Launch every waiting job the rule sends somewhere now, oldest first (called holding the lock)."""
        for job in list(self._waiting):
            live = [w for w in self._workers if w.state != REMOVED]
            wait_s = 0.0 if job.cancelled else self.settings.affinity_wait_s
            estimates = self._cost_estimates()
            views = [w.view(estimates, self.settings.affinity_wait_s) for w in live]
            if self.settings.routing == ROUND_ROBIN:
                name = next_in_turn(views, self._last_chosen)
            else:
                name = choose_worker(job.keys, views, time.monotonic() - job.started, wait_s)
            if name is None:
                continue
            self._last_chosen = name
            worker = next(w for w in live if w.name == name)
            spared = next(v for v in views if v.name == name).affinity(job.keys)
            log.info("prompt %s goes to %s (it holds %.1f s of its work)", job.item.prompt_id, name, spared)
            worker.state, worker.running = RUNNING, job.item
            worker.loading = frozenset(key for key, model in job.keys.items() if model)
            job.shared = self._shared.for_keys(job.keys, held={e.key for e in worker.report.cache.entries}
                                               if worker.report else set())
            self._last_started = job.item
            self._waiting.remove(job)
            self._spawn(self._run_on, worker, job)

    def _cost_estimates(self) -> dict[str, float]:
        """Each cached result's compute time, as the workers that hold it report it."""
        return {entry.key: entry.seconds for w in self._workers if w.report for entry in w.report.cache.entries}

    def _next_deadline(self) -> float | None:
        """Seconds until a waiting job's window ends while a worker is idle (None: nothing to wait for but a
        change)."""
        if not self._waiting or not any(w.state == IDLE for w in self._workers):
            return None
        now = time.monotonic()
        return max(0.05, min(job.started + self.settings.affinity_wait_s - now for job in self._waiting))

    def _file_unrunnable(self, item: QueueItem) -> None:
        error = RunError(item.prompt_id, "no cluster worker is left to run this prompt: every worker died again and "
                         "again (see the server's log); restart the server", "ClusterUnavailable")
        self.reporter.file(item, {}, self.reporter.failed(item, error))
        self.hub.queue_changed_threadsafe()

    def _run_on(self, worker: Worker, job: Job) -> None:
        """Run `job` on `worker`, relaying its events, and file the result (or run it again elsewhere)."""
        ray, item = self.cluster.ray, job.item
        progress = PromptProgress()
        received = ReceivedFiles(self.engine.folders) if self._sends_files(worker) else None
        filed: tuple[dict, Any] | None = None
        try:
            stream = worker.actor.run.options(num_returns="streaming").remote(
                item.prompt, item.prompt_id, item.extra_data, item.outputs_to_execute or None, job.shared,
                self.settings.shared_results_bytes > 0, received is not None)
            if job.cancelled:
                worker.actor.interrupt.remote(item.prompt_id)
            for ref in stream:
                message = ray.get(ref)
                if message[0] == FILE and received is not None:
                    received.store(*message[1:])
                elif message[0] == EVENT:
                    data = received.renamed(message[2]) if received is not None else message[2]
                    self.reporter.forward(item, progress, message[1], data)
                elif message[0] == REFUSED:
                    filed = {}, self.reporter.failed(item, message[1])
                elif message[0] == DONE:
                    _, ok, outputs, messages, report, published = message
                    if received is not None:
                        outputs, messages = received.renamed(outputs), received.renamed(messages)
                    filed = self.reporter.ran(ok, outputs, messages)
                    with self._changed:
                        worker.report = report
                        worker.recent.append(item.prompt_id)
                        self._shared.add(published)
        except ray.exceptions.RayActorError as exc:
            filed = self._worker_died(worker, job, exc)
        except Exception as exc:  # the run itself failed outside any node, on the worker
            log.error("prompt %s failed on %s outside any node: %s", item.prompt_id, worker.name, exc)
            filed = self.reporter.crashed(item, exc)
        finally:
            with self._changed:
                worker.running, worker.loading = None, frozenset()
                if worker.state == RUNNING:
                    worker.state = IDLE
                self._changed.notify_all()
        if filed is not None:
            self.reporter.file(item, *filed)
        self.hub.queue_changed_threadsafe()

    def _sends_files(self, worker: Worker) -> bool:
        """Whether the worker's output files must come back: it writes elsewhere than the server's output folder
        (another machine, another base folder) and the folder is not declared shared."""
        report = worker.report
        if self.settings.shared_output or report is None:
            return False
        return report.host != socket.gethostname() or report.output_dir != str(self.engine.folders.output)

    def _worker_died(self, worker: Worker, job: Job, exc: Exception) -> tuple[dict, Any] | None:
        """The worker is restarted by Ray (or taken out); the prompt runs again elsewhere, or is filed as failed
        after `max_tries` runs, or, when the server stops, stays queued as running."""
        with self._changed:
            worker.state, worker.report = RESTARTING, None
            worker.deaths += 1
            self._shared.forget_worker(worker.name)
        log.warning("worker %s died running prompt %s (%s)", worker.name, job.item.prompt_id, type(exc).__name__)
        self._spawn(self._await_ready, worker)
        if self._stopping.is_set():
            return None
        job.tries += 1
        if job.tries < self.settings.max_tries:
            with self._changed:
                job.started = time.monotonic()
                self._waiting.insert(0, job)
                self._changed.notify_all()
            log.info("prompt %s runs again (try %d of %d)", job.item.prompt_id, job.tries + 1, self.settings.max_tries)
            return None
        error = RunError(job.item.prompt_id, f"the workers running this prompt died {job.tries} times (see the "
                         "server's log); queue it again when the cluster is healthy", "WorkerDied")
        return {}, self.reporter.failed(job.item, error)

    def _await_ready(self, worker: Worker) -> None:
        """A starting or restarting worker becomes idle once its engine is built; one that Ray gave up restarting
        (or that cannot build its engine) is taken out."""
        ray = self.cluster.ray
        while not self._stopping.is_set():
            try:
                report = ray.get(worker.actor.ready.remote())
            except ray.exceptions.ActorUnavailableError:  # Ray is restarting it: ask again
                self._stopping.wait(READY_POLL_S)
            except Exception as exc:
                self._take_out(worker, exc)
                return
            else:
                with self._changed:
                    worker.state, worker.report = IDLE, report
                    self._changed.notify_all()
                log.info("worker %s is ready (%s)", worker.name, report.device or "no device named")
                return

    def _take_out(self, worker: Worker, exc: Exception) -> None:
        with self._changed:
            worker.state = REMOVED
            left = sum(w.state != REMOVED for w in self._workers)
            self._changed.notify_all()
        if not self._stopping.is_set():
            log.error("worker %s is taken out after dying %d time(s); %d worker(s) left: %s", worker.name,
                      worker.deaths, left, exc)
