"""``BodyClock``: the slow-body rule from periodic looks, without a clock of its own."""

from __future__ import annotations

from asgi_magic.server.slow_body import BodyClock


def test_a_gap_while_waiting_is_too_slow() -> None:
    clock = BodyClock(1.0, None, 5.0, now=0.0)
    assert clock.look(0.5, 100, waiting=True) is None  # the first look only marks
    assert clock.look(1.0, 100, waiting=True) is None
    why = clock.look(1.5, 100, waiting=True)
    assert why is not None and "no data for 1 s" in why


def test_progress_restarts_the_gap() -> None:
    clock = BodyClock(1.0, None, 5.0, now=0.0)
    for t in range(1, 20):
        assert clock.look(t * 0.9, t, waiting=True) is None


def test_time_not_waiting_never_counts() -> None:
    # The app is slow (or reading is paused): the clock restarts at every such look.
    clock = BodyClock(1.0, 1000.0, 0.5, now=0.0)
    for t in range(1, 20):
        assert clock.look(float(t), 0, waiting=False) is None
    # Measured from the last look that saw the app not waiting (as over HTTP/1.1).
    assert clock.look(19.5, 0, waiting=True) is None
    assert clock.look(19.9, 0, waiting=True) is None
    assert clock.look(20.0, 0, waiting=True) is not None


def test_the_first_look_does_not_blame_the_time_before_it() -> None:
    clock = BodyClock(1.0, None, 5.0, now=0.0)
    assert clock.look(10.0, 0, waiting=True) is None
    assert clock.look(10.5, 0, waiting=True) is None
    assert clock.look(11.0, 0, waiting=True) is not None


def test_a_trickle_below_the_rate_after_the_grace() -> None:
    clock = BodyClock(None, 100.0, 1.0, now=0.0)
    received = 0
    verdicts = []
    for tick in range(1, 12):
        received += 10  # 10 bytes per 0.25 s: 40 bytes/s
        verdicts.append(clock.look(tick * 0.25, received, waiting=True))
    assert verdicts[:4] == [None] * 4  # within the grace
    assert any(v is not None and "bytes/s < 100" in v for v in verdicts)


def test_a_rate_above_the_minimum_passes() -> None:
    clock = BodyClock(None, 100.0, 1.0, now=0.0)
    for tick in range(1, 40):
        assert clock.look(tick * 0.25, tick * 50, waiting=True) is None  # 200 bytes/s


def test_both_checks_off() -> None:
    clock = BodyClock(None, None, 1.0, now=0.0)
    for tick in range(1, 10):
        assert clock.look(tick * 100.0, 0, waiting=True) is None
