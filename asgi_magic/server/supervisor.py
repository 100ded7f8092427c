"""``--workers N``: bind once in the parent, serve in N worker processes.

The supervisor never imports the app and never runs an event loop: it binds the
listening socket (the same ``bind_sockets`` the single-process server uses), starts the
workers with the ``spawn`` start method (a fresh interpreter each: no forked event loop,
threads or locks), hands each the socket (``multiprocessing`` passes the descriptor),
and then only watches:

* a worker that dies unexpectedly is replaced (one log line); one that dies within
  ``_CRASH_WINDOW`` seconds of its start is replaced after a pause, so a broken app
  does not spin the CPU; a worker of the first start that exits by itself with an
  error before it ever served stops the whole supervisor with the worker's exit code
  (1: import, 3: lifespan startup);
* SIGINT/SIGTERM: each worker gets one SIGTERM (its own graceful shutdown), and the
  supervisor waits up to ``timeout_graceful_shutdown`` + ``_STOP_MARGIN`` seconds, then
  kills what is left; a second signal is forwarded too (the workers' force exit);
* SIGHUP: rolling restart, one worker at a time: start the new one, wait until it
  serves, then stop the old one, so capacity never drops below N - 0;
* SIGTTIN / SIGTTOU: one worker more / one fewer (never fewer than one), as gunicorn;
* health check: each worker's event loop stamps a shared heartbeat every
  ``_HEARTBEAT`` seconds; a serving worker whose stamp is older than
  ``--timeout-worker-healthcheck`` has a blocked loop (say ``time.sleep`` in a handler)
  and is killed and replaced (one log line).

``--reload`` is the same supervisor with one worker and a ``reload.FileWatcher``: a
change (debounced by ``--reload-delay``) replaces the worker; a worker that fails to
start (a syntax error: its traceback is printed once) is not retried until the next
change.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from asgi_magic.config import Config, usage_error

__all__ = ["APP_STRING_REQUIRED", "Supervisor", "run_supervisor"]

logger = logging.getLogger("asgi_magic.error")

APP_STRING_REQUIRED = (
    "You must pass the application as an import string to enable 'reload' or 'workers'."
)

_CRASH_WINDOW = 2.0  # a worker dying this soon after its start is crash-looping
_CRASH_PAUSE = 1.0
_STOP_MARGIN = 5.0  # beyond the workers' own graceful timeout
_READY_TIMEOUT = 60.0  # how long a new worker may take to import and start serving
_PARENT_POLL = 0.5
_HEARTBEAT = 0.25  # how often a worker's event loop stamps its heartbeat


# --- the worker process --------------------------------------------------------------


def _watch(server: Any, ready: Connection, parent: int) -> None:
    """Report readiness once, then stop the worker if the supervisor vanishes."""
    while not server.started and not server.should_exit:
        time.sleep(0.02)
    if server.started:
        try:
            ready.send_bytes(b"1")
        except OSError:
            pass
    ready.close()
    while not server.should_exit:
        if os.getppid() != parent:  # the supervisor was killed: do not linger orphaned
            server.should_exit = True
            return
        time.sleep(_PARENT_POLL)


async def _serve_with_heartbeat(server: Any, sockets: list[socket.socket], heartbeat: Any) -> None:
    """Serve, stamping ``heartbeat`` from the event loop itself: if the loop blocks,
    the stamp ages and the supervisor sees it."""
    import asyncio

    async def beat() -> None:
        while True:
            heartbeat.value = time.monotonic()
            await asyncio.sleep(_HEARTBEAT)

    beater = asyncio.get_running_loop().create_task(beat())
    try:
        await server.serve(sockets=sockets)
    finally:
        beater.cancel()


def _worker_main(
    config: Config,
    sockets: list[socket.socket],
    ready: Connection,
    parent: int,
    heartbeat: Any = None,
) -> None:
    """Entry point of a worker (a fresh interpreter): serve on the inherited sockets."""
    import asyncio

    from asgi_magic.server.logging import LogConfigError, configure_logging
    from asgi_magic.server.loops import loop_factory
    from asgi_magic.server.server import Server, load_app_or_report

    # The supervisor forwards SIGINT/SIGTERM as one SIGTERM. In its own process group a
    # worker does not also get the terminal's Ctrl+C, which it would count as a second
    # ("force exit") signal.
    os.setpgrp()
    try:
        configure_logging(config)
    except LogConfigError as exc:
        usage_error(str(exc))
    app = load_app_or_report(config)
    if app is None:
        sys.exit(1)
    config.app = app
    config.factory = False
    config.interface = "asgi3"
    server = Server(config)
    watcher = threading.Thread(target=_watch, args=(server, ready, parent), daemon=True)
    watcher.start()

    factory = loop_factory(config.loop)
    main = (
        server.serve(sockets=sockets)
        if heartbeat is None
        else _serve_with_heartbeat(server, sockets, heartbeat)
    )
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main)
    else:  # pragma: no cover - Python 3.10 has no Runner
        loop = factory()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main)
        finally:
            loop.close()
    sys.exit(server.exit_code)


# --- the supervisor --------------------------------------------------------------------


class _Worker:
    __slots__ = (
        "_ready",
        "_ready_conn",
        "closed",
        "heartbeat",
        "process",
        "started_at",
        "stopping",
    )

    def __init__(self, process: SpawnProcess, ready_conn: Connection, heartbeat: Any) -> None:
        self.process = process
        self._ready_conn = ready_conn
        self._ready = False
        self.heartbeat = heartbeat
        self.started_at = time.monotonic()
        self.stopping = False
        self.closed = False

    def is_ready(self, timeout: float = 0.0) -> bool:
        """Whether the worker has said it serves (it writes one byte once started)."""
        if not self._ready:
            try:
                if self._ready_conn.poll(timeout):
                    self._ready = self._ready_conn.recv_bytes() == b"1"
            except (EOFError, OSError):
                if timeout:
                    time.sleep(min(timeout, 0.1))  # the worker exited before serving
        return self._ready

    def silent_for(self) -> float:
        """Seconds since the worker's event loop last stamped its heartbeat (0: none yet)."""
        stamp: float = self.heartbeat.value
        return 0.0 if stamp == 0.0 else time.monotonic() - stamp

    def close(self) -> None:
        """Release the pipe and process handles (after the process has been joined)."""
        if not self.closed:
            self.closed = True
            self._ready_conn.close()
            self.process.close()


class Supervisor:
    """Run ``config.workers`` copies of the server on ``sockets`` until a signal.

    With ``config.reload``: one worker, replaced when a watched file changes.
    """

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        self.config = config
        self.sockets = sockets
        self.reload = config.reload
        self.count = 1 if config.reload else (config.workers or 1)
        self.workers: list[_Worker] = []
        self.retiring: list[_Worker] = []
        self.should_exit = False
        self.exit_signals = 0
        self.reload_requested = False
        self.resize = 0  # +1 per SIGTTIN, -1 per SIGTTOU, applied by the main loop
        self.changed: list[str] = []
        self._changed_lock = threading.Lock()
        self._ctx = multiprocessing.get_context("spawn")
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    # signals: set flags, wake the wait() below through the socket pair
    def _on_exit_signal(self, signum: int, frame: object) -> None:
        self.should_exit = True
        self.exit_signals += 1

    def _on_hup(self, signum: int, frame: object) -> None:
        self.reload_requested = True

    def _on_ttin(self, signum: int, frame: object) -> None:
        self.resize += 1

    def _on_ttou(self, signum: int, frame: object) -> None:
        self.resize -= 1

    def _on_files_changed(self, paths: list[str]) -> None:
        # Called from the watcher thread.
        with self._changed_lock:
            self.changed.extend(paths)
        try:
            self._wake_w.send(b"c")
        except OSError:
            pass

    def _spawn(self) -> _Worker:
        reader, writer = self._ctx.Pipe(duplex=False)
        heartbeat: Synchronized[float] = self._ctx.Value("d", 0.0, lock=False)
        process = self._ctx.Process(
            target=_worker_main,
            args=(self.config, self.sockets, writer, os.getpid(), heartbeat),
            name="asgi-magic-worker",
        )
        process.start()
        writer.close()  # the child holds its own copy now
        logger.info("Started worker process [%d]", process.pid)
        return _Worker(process, reader, heartbeat)

    def run(self) -> int:
        previous: dict[int, Any] = {}
        old_wakeup = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        handlers = [
            (signal.SIGINT, self._on_exit_signal),
            (signal.SIGTERM, self._on_exit_signal),
            (signal.SIGHUP, self._on_hup),
            (signal.SIGTTIN, self._on_ttin),
            (signal.SIGTTOU, self._on_ttou),
        ]
        for sig, handler in handlers:
            previous[sig] = signal.signal(sig, handler)
        watcher = None
        try:
            if self.reload:
                from asgi_magic.server.reload import FileWatcher

                watcher = FileWatcher(self.config, self._on_files_changed)
                logger.info(
                    "Will watch for changes in these directories: %s (%s)",
                    ", ".join(watcher.dirs),
                    "watchfiles" if watcher.backend == "watchfiles" else "stat polling",
                )
                watcher.start()
                logger.info("Started reloader process [%d]", os.getpid())
            else:
                logger.info(
                    "Started supervisor process [%d] with %d workers", os.getpid(), self.count
                )
            try:
                return self._run()
            except BaseException:
                self._stop_all()  # never leave workers behind, whatever went wrong
                raise
        finally:
            if watcher is not None:
                watcher.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(old_wakeup)
            self._wake_r.close()
            self._wake_w.close()

    def _run(self) -> int:
        self.workers = [self._spawn() for _ in range(self.count)]
        first_start = True
        healthcheck = self.config.timeout_worker_healthcheck
        while not self.should_exit:
            if first_start and all(w.is_ready() for w in self.workers):
                first_start = False
            code = self._reap(first_start)
            if code is not None:
                self._stop_all()
                return code
            self._reap_retiring()
            if not self.reload:
                self._check_health(healthcheck)
                if self.resize:
                    self._apply_resize()
            elif self.changed:
                self._reload()
                first_start = False
            if self.reload_requested and not self.should_exit:
                self.reload_requested = False
                self._rolling_restart()
                continue
            self._wait(min(1.0, healthcheck / 2))
        logger.info("Stopping %d workers", len(self.workers))
        self._stop_all()
        logger.info("Finished supervisor process [%d]", os.getpid())
        return 0

    def _reload(self) -> None:
        # Debounce: an editor's save is often several writes; wait until quiet.
        delay = max(self.config.reload_delay, 0.05)
        seen = -1
        while not self.should_exit:
            with self._changed_lock:
                count = len(self.changed)
            if count == seen:
                break
            seen = count
            self._wait(delay, workers=False)
        with self._changed_lock:
            paths, self.changed = sorted(set(self.changed)), []
        if self.should_exit:
            return
        shown = ", ".join(os.path.relpath(p) for p in paths[:3])
        more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
        logger.warning("Detected changes in %s%s. Reloading...", shown, more)
        old = self.workers
        for worker in old:
            self._terminate(worker)
        self._join(old)
        for worker in old:
            worker.close()
        self.workers = [self._spawn()]

    def _check_health(self, timeout: float) -> None:
        for index, worker in enumerate(self.workers):
            if worker.closed or worker.stopping or not worker.is_ready():
                continue
            silent = worker.silent_for()
            if silent <= timeout or not worker.process.is_alive():
                continue
            logger.error(
                "Worker [%d] did not answer the health check for %.1f s (its event loop "
                "is blocked); killing and replacing it",
                worker.process.pid,
                silent,
            )
            worker.stopping = True
            worker.process.kill()
            worker.process.join(5.0)
            worker.close()
            self.workers[index] = self._spawn()

    def _apply_resize(self) -> None:
        change, self.resize = self.resize, 0
        if change > 0:
            for _ in range(change):
                self.workers.append(self._spawn())
            self.count = len(self.workers)
            logger.info("Received SIGTTIN: now %d workers", self.count)
            return
        for _ in range(-change):
            if len(self.workers) <= 1:
                logger.warning("Received SIGTTOU: keeping the last worker")
                break
            worker = self.workers.pop()
            self._terminate(worker)
            self.retiring.append(worker)
        self.count = len(self.workers)
        logger.info("Received SIGTTOU: now %d workers", self.count)

    def _reap_retiring(self) -> None:
        for worker in list(self.retiring):
            if not worker.process.is_alive():
                worker.process.join()
                worker.close()
                self.retiring.remove(worker)

    def _wait(self, timeout: float, workers: bool = True) -> None:
        """Sleep until a worker exits (if ``workers``), a signal arrives, or timeout."""
        sentinels: list[Any] = (
            [w.process.sentinel for w in self.workers if not (w.closed or w.stopping)]
            if workers
            else []
        )
        wait([*sentinels, self._wake_r], timeout=timeout)
        try:
            while self._wake_r.recv(512):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _reap(self, first_start: bool) -> int | None:
        """Replace dead workers; a startup failure during the first start is fatal
        (with ``--reload`` it waits for the next change instead)."""
        for index, worker in enumerate(self.workers):
            process = worker.process
            if worker.closed or worker.stopping or process.is_alive():
                continue
            process.join()
            code = process.exitcode
            ready = worker.is_ready()
            pid = process.pid
            worker.stopping = True
            if self.reload:
                # The error (a syntax error's traceback) was printed once by the worker.
                if not ready:
                    logger.error("Worker [%d] failed to start; waiting for a file change", pid)
                else:
                    logger.warning(
                        "Worker [%d] exited (code %s); waiting for a file change", pid, code
                    )
                continue
            worker.close()
            if first_start and not ready and code is not None and code > 0:
                # It exited by itself before serving (import error, lifespan failure):
                # every replacement would fail the same way, so give up with its code.
                logger.error("Worker [%d] failed to start (exit code %s)", pid, code)
                return code
            if code == 0:  # e.g. --limit-max-requests: recycling, not a failure
                logger.info("Worker [%d] exited; starting a new one", pid)
            else:
                logger.warning(
                    "Worker [%d] died unexpectedly (exit code %s); starting a new one",
                    pid,
                    code,
                )
            if time.monotonic() - worker.started_at < _CRASH_WINDOW:
                self._wait(_CRASH_PAUSE, workers=False)  # crash-looping: do not spin
                if self.should_exit:
                    return None
            self.workers[index] = self._spawn()
        return None

    def _rolling_restart(self) -> None:
        logger.info("Received SIGHUP: restarting %d workers one at a time", len(self.workers))
        for index in range(len(self.workers)):
            if self.should_exit:
                return
            old = self.workers[index]
            new = self._spawn()
            deadline = time.monotonic() + _READY_TIMEOUT
            while not new.is_ready(0.1) and new.process.is_alive() and not self.should_exit:
                if time.monotonic() > deadline:
                    break
            if not new.is_ready():
                logger.error("New worker [%d] did not start; keeping the old one", new.process.pid)
                self._terminate(new)
                self._join([new])
                new.close()
                return
            self.workers[index] = new
            self._terminate(old)
            self._join([old])
            old.close()

    def _terminate(self, worker: _Worker) -> None:
        worker.stopping = True
        if not worker.closed and worker.process.is_alive() and worker.process.pid is not None:
            try:
                os.kill(worker.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _join(self, workers: list[_Worker]) -> None:
        timeout = self.config.timeout_graceful_shutdown
        deadline = time.monotonic() + (timeout if timeout is not None else 30.0) + _STOP_MARGIN
        signals_seen = self.exit_signals
        workers = [worker for worker in workers if not worker.closed]
        for worker in workers:
            while worker.process.is_alive():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    logger.error("Worker [%d] did not stop in time; killing it", worker.process.pid)
                    worker.process.kill()
                    break
                worker.process.join(min(remaining, 0.1))
                if self.exit_signals > signals_seen:
                    # Another signal: pass it on, the workers stop waiting for requests.
                    signals_seen = self.exit_signals
                    for other in workers:
                        if other.process.is_alive() and other.process.pid is not None:
                            os.kill(other.process.pid, signal.SIGTERM)
            worker.process.join(5.0)

    def _stop_all(self) -> None:
        everyone = [*self.workers, *self.retiring]
        for worker in everyone:
            self._terminate(worker)
        self._join(everyone)
        for worker in everyone:
            worker.close()
        self.workers = []
        self.retiring = []


def run_supervisor(config: Config) -> int:
    """Bind, supervise, return the exit status (0 after a signal-driven shutdown)."""
    from asgi_magic.server._sockets import BindError, bind_sockets
    from asgi_magic.server.server import TLSSetupError, create_ssl_context

    if not isinstance(config.app, str):
        sys.stderr.write(APP_STRING_REQUIRED + "\n")
        return 1
    for directory in config.reload_dirs if config.reload else ():
        if not os.path.isdir(directory):
            usage_error(f"--reload-dir {directory}: no such directory")
    try:
        # Once here rather than once per worker: one line, before anything starts.
        create_ssl_context(config)
    except TLSSetupError as exc:
        logger.error("%s", exc)
        return 1
    try:
        sockets = bind_sockets(config)
    except BindError as exc:
        logger.error("%s", exc)
        return 1
    # The socket is bound now: workers get it, and must not unlink the UDS path when
    # one of them stops (a rolling restart would cut off the others).
    uds = config.uds
    config.uds = None
    try:
        return Supervisor(config, sockets).run()
    finally:
        for sock in sockets:
            sock.close()
        if uds and os.path.exists(uds):
            try:
                os.remove(uds)
            except OSError:
                pass
