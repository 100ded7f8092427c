"""The slow-body rule without I/O: is this request body stalled or trickling?

``--timeout-request-body`` (a gap: no body byte for that long while the app waits for
one) and ``--min-request-body-rate`` (after ``--min-request-body-rate-grace`` seconds
of waiting, fewer bytes per second of waiting than that) are judged from periodic
looks by the connection's timer, never per chunk (docs/server/timeouts.md).

``BodyClock`` is that judgement for one request: HTTP/2 runs one per stream, and
``HTTPProtocol._busy_tick`` one for the request in flight on an HTTP/1.1 connection.
"""

from __future__ import annotations

__all__ = ["BodyClock"]


class BodyClock:
    """The slow-body marks of one request.

    ``gap_limit`` and ``min_rate`` are the settings (None: that check is off; seconds
    and bytes per second), ``rate_grace`` seconds of waiting before the rate applies,
    ``now`` the time the request arrived (the loop's clock, seconds)."""

    __slots__ = (
        "gap_limit",
        "last_tick",
        "mark",
        "mark_time",
        "min_rate",
        "rate_bytes",
        "rate_grace",
        "rate_time",
        "waiting",
    )

    def __init__(
        self, gap_limit: float | None, min_rate: float | None, rate_grace: float, now: float
    ) -> None:
        self.gap_limit = gap_limit
        self.min_rate = min_rate
        self.rate_grace = rate_grace
        # Body bytes received at the last look; -1 until the first look, which only
        # sets the marks (what happened before it is not known).
        self.mark = -1
        self.mark_time = now  # the last look that saw progress (or an app not waiting)
        self.last_tick = now
        self.waiting = False  # the app was waiting for the body at the last look
        self.rate_time = 0.0  # seconds the app spent waiting for the body, and
        self.rate_bytes = 0  # the bytes that arrived meanwhile

    def look(self, now: float, received: int, waiting: bool) -> str | None:
        """One look: ``received`` body bytes so far; ``waiting`` says whether the app
        waits in ``receive()`` for bytes the client could send (the app has taken
        everything, and nothing on our side stops the client: reading not paused,
        flow-control window open). Returns why the body is too slow (for the log
        line), or None while it is fine.

        While the app is not waiting, the client is not to blame: the clock restarts."""
        if not waiting:
            self.mark = received
            self.mark_time = now
            self.waiting = False
            self.last_tick = now
            return None
        if self.waiting:
            # Waiting at both looks: this interval counts toward the rate.
            self.rate_time += now - self.last_tick
            self.rate_bytes += received - self.mark
        self.waiting = True
        self.last_tick = now
        gap_limit = self.gap_limit
        if received != self.mark:
            self.mark = received
            self.mark_time = now
        elif gap_limit is not None and now - self.mark_time >= gap_limit:
            return f"request body timeout: no data for {now - self.mark_time:.3g} s"
        min_rate = self.min_rate
        if (
            min_rate is not None
            and self.rate_time >= self.rate_grace
            and self.rate_bytes < min_rate * self.rate_time
        ):
            rate = self.rate_bytes / self.rate_time
            return f"request body too slow: {rate:.0f} bytes/s < {min_rate:g}"
        return None
