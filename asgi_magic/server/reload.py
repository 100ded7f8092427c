"""``--reload``: watch the source tree and tell the supervisor when it changed.

``FileWatcher`` runs in a thread of the supervisor process (which never imports the
app) and calls ``on_change(paths)`` for each batch of changes. It uses ``watchfiles``
(inotify/FSEvents, the ``reload`` extra) when installed, and otherwise polls
``os.stat`` every ``--reload-delay`` seconds. Both apply the same filter:

* watched directories: ``--reload-dir`` (default: the current directory);
* a file counts when its name matches an include glob (``*.py`` plus each
  ``--reload-include``) and no exclude glob (``.*``, ``.py[cod]``, ``.sw.*``, ``~*``
  plus each ``--reload-exclude``); a pattern given to one list leaves the other's
  defaults, as uvicorn does (``--reload-include '.env'`` watches ``.env``);
* directories whose name starts with ``.`` (``.git``, ``.venv``), ``__pycache__``,
  ``node_modules`` and ``site-packages``, and any matching an exclude glob, are skipped.

The supervisor debounces: changes that arrive within ``--reload-delay`` of each other
are one restart.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
from collections.abc import Callable, Iterator

from asgi_magic.config import Config

__all__ = ["DEFAULT_EXCLUDES", "DEFAULT_INCLUDES", "FileFilter", "FileWatcher"]

logger = logging.getLogger("asgi_magic.error")

DEFAULT_INCLUDES = ("*.py",)
DEFAULT_EXCLUDES = (".*", ".py[cod]", ".sw.*", "~*")
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})


class FileFilter:
    """Which paths are watched: ``FileFilter(config).accepts(path)``."""

    def __init__(self, config: Config) -> None:
        # As uvicorn: the defaults stay, the given patterns are added, and a pattern
        # given to one list is removed from the other's defaults.
        includes = [i for i in DEFAULT_INCLUDES if i not in config.reload_excludes]
        includes += [i for i in config.reload_includes if i not in includes]
        excludes = [e for e in DEFAULT_EXCLUDES if e not in config.reload_includes]
        excludes += [e for e in config.reload_excludes if e not in excludes]
        self.includes = tuple(includes)
        self.excludes = tuple(excludes)

    def skips_dir(self, name: str) -> bool:
        return (
            name.startswith(".")
            or name in _SKIPPED_DIRS
            or any(fnmatch.fnmatch(name, pattern) for pattern in self.excludes)
        )

    def accepts(self, path: str) -> bool:
        parts = os.path.normpath(path).split(os.sep)
        name = parts[-1]
        if any(self.skips_dir(part) for part in parts[:-1] if part not in ("", ".", "..")):
            return False
        if any(fnmatch.fnmatch(name, pattern) for pattern in self.excludes):
            return False
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.includes)


class FileWatcher:
    """Watch ``config.reload_dirs`` in a thread; ``on_change(paths)`` per batch.

    ``backend`` is ``"watchfiles"`` or ``"stat"``. ``stop()`` ends the thread.
    """

    def __init__(self, config: Config, on_change: Callable[[list[str]], None]) -> None:
        self.dirs = [os.path.abspath(d) for d in (config.reload_dirs or [os.getcwd()])]
        self.filter = FileFilter(config)
        self.delay = max(config.reload_delay, 0.05)
        self.on_change = on_change
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            import watchfiles  # noqa: F401
        except ImportError:
            self.backend = "stat"
        else:
            self.backend = "watchfiles"

    def start(self) -> None:
        target = self._run_watchfiles if self.backend == "watchfiles" else self._run_stat
        self._thread = threading.Thread(target=target, name="asgi-magic-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    # --- watchfiles ------------------------------------------------------------------

    def _run_watchfiles(self) -> None:
        import watchfiles

        def accept(change: watchfiles.Change, path: str) -> bool:
            # Judge the path below the watched directory, not the directories above it.
            for root in self.dirs:
                if path.startswith(root + os.sep):
                    return self.filter.accepts(os.path.relpath(path, root))
            return self.filter.accepts(os.path.basename(path))

        for changes in watchfiles.watch(
            *self.dirs,
            watch_filter=accept,
            stop_event=self._stop,
            rust_timeout=500,
            yield_on_timeout=True,
        ):
            if self._stop.is_set():
                return
            if changes:
                self.on_change(sorted({path for _, path in changes}))

    # --- stat polling ------------------------------------------------------------------

    def _files(self) -> Iterator[str]:
        for root in self.dirs:
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = [d for d in dirnames if not self.filter.skips_dir(d)]
                for name in filenames:
                    path = os.path.join(dirpath, name)
                    if self.filter.accepts(os.path.relpath(path, root)):
                        yield path

    def _snapshot(self) -> dict[str, tuple[float, int]]:
        snapshot = {}
        for path in self._files():
            try:
                st = os.stat(path)
            except OSError:
                continue
            snapshot[path] = (st.st_mtime, st.st_size)
        return snapshot

    def _run_stat(self) -> None:
        previous = self._snapshot()
        while not self._stop.wait(self.delay):
            current = self._snapshot()
            if current != previous:
                changed = {p for p in current if current[p] != previous.get(p)}
                changed |= set(previous) - set(current)
                previous = current
                self.on_change(sorted(changed))
