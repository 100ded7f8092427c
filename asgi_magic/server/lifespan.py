"""The ASGI lifespan protocol (asgiref ``specs/lifespan.rst``).

``--lifespan on``: startup must complete or the server does not start.
``--lifespan auto``: an app that raises on the lifespan scope (e.g. it only knows
"http") is logged once and served without lifespan. ``--lifespan off``: never called.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

__all__ = ["Lifespan"]

logger = logging.getLogger("asgi_magic.error")
TRACE = 5  # --log-level trace (server/logging.py names it)


class Lifespan:
    def __init__(self, app: Any, mode: str) -> None:
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] = {}
        self.startup_failed = False
        self.shutdown_failed = False
        self.error_occurred = False
        self._receive_queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._startup_event = asyncio.Event()
        self._shutdown_event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._cancelled = False

    @property
    def should_exit(self) -> bool:
        return self.startup_failed or (self.error_occurred and self.mode == "on")

    async def startup(self) -> None:
        logger.info("Waiting for application startup.")
        self._task = asyncio.get_running_loop().create_task(self._main())
        await self._receive_queue.put({"type": "lifespan.startup"})
        await self._startup_event.wait()
        if self.should_exit:
            logger.error("Application startup failed. Exiting.")
        elif not self.error_occurred:
            self._started = True
            logger.info("Application startup complete.")

    async def shutdown(self) -> None:
        if self.error_occurred or self._task is None:
            return
        logger.info("Waiting for application shutdown.")
        await self._receive_queue.put({"type": "lifespan.shutdown"})
        await self._shutdown_event.wait()
        if self.shutdown_failed or self.error_occurred:
            logger.error("Application shutdown failed.")
        else:
            logger.info("Application shutdown complete.")
        task = self._task
        if task is not None and not task.done():
            # The app keeps running after shutdown.complete: give it a moment, then stop it.
            try:
                await asyncio.wait_for(task, timeout=1.0)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                pass

    async def cancel(self) -> None:
        """Stop the app's lifespan task without its shutdown (a forced exit), quietly.

        The task is cancelled and awaited here, so it is not left for the event loop's
        teardown to cancel. Whatever the app does on the way out (raise CancelledError,
        send ``lifespan.shutdown.failed`` with a traceback as Starlette does) is the
        server stopping it, not the app failing: nothing of it is logged.
        """
        task = self._task
        if task is None or task.done():
            return
        self._cancelled = True
        task.cancel()
        try:
            await asyncio.wait_for(task, timeout=1.0)
        except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
            # An app that swallows the cancellation is left to the loop's teardown.
            pass

    async def _main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            self.error_occurred = True
            if self._cancelled:
                return  # cancel(): the server stopped the app on purpose
            if self.startup_failed or self.shutdown_failed:
                return
            if self.mode == "auto":
                logger.info(
                    "ASGI 'lifespan' protocol appears unsupported (%s: %s).",
                    type(exc).__name__,
                    exc,
                )
            else:
                logger.error("Exception in 'lifespan' protocol", exc_info=exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._startup_event.set()
            self._shutdown_event.set()

    async def _receive(self) -> dict[str, Any]:
        message = await self._receive_queue.get()
        if logger.isEnabledFor(TRACE):
            logger.log(TRACE, "ASGI [lifespan] receive %s", message["type"])
        return message

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if logger.isEnabledFor(TRACE):
            logger.log(TRACE, "ASGI [lifespan] send %s", kind)
        if kind == "lifespan.startup.complete":
            self._check(not self._startup_event.is_set(), kind)
            self._startup_event.set()
        elif kind == "lifespan.startup.failed":
            self._check(not self._startup_event.is_set(), kind)
            self.startup_failed = True
            self._startup_event.set()
            if message.get("message") and not self._cancelled:
                logger.error("%s", message["message"])
        elif kind == "lifespan.shutdown.complete":
            self._check(self._startup_event.is_set() and not self._shutdown_event.is_set(), kind)
            self._shutdown_event.set()
        elif kind == "lifespan.shutdown.failed":
            self._check(self._startup_event.is_set() and not self._shutdown_event.is_set(), kind)
            self.shutdown_failed = True
            self._shutdown_event.set()
            if message.get("message") and not self._cancelled:
                logger.error("%s", message["message"])
        else:
            raise RuntimeError(f"Unexpected ASGI lifespan message {kind!r}")

    @staticmethod
    def _check(ok: bool, kind: str) -> None:
        if not ok:
            raise RuntimeError(f"Unexpected ASGI lifespan message {kind!r} at this point")
