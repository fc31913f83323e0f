"""The engine's deadline heap (R21: nothing polls): lazy cancellation that keeps memory bounded."""

from __future__ import annotations

from unirouter.engine.timers import TimerKind, Timers


def fire_all(timers: Timers, now: float) -> list[str]:
    fired = []
    while (entry := timers.pop_due(now)) is not None:
        fired.append(entry[3])
    return fired


def test_cancelling_timers_that_already_fired_keeps_no_marks() -> None:
    """An offer cancels its expiry timer after that timer fired: over a long run such cancels
    must not pile up (the simulator's memory bound)."""
    timers = Timers()
    for n in range(10_000):
        handle = timers.set(float(n), TimerKind.OFFER_EXPIRY, f"o{n}")
        assert fire_all(timers, float(n)) == [f"o{n}"]
        timers.cancel(handle)
    assert len(timers._cancelled) <= 64


def test_sweeping_stale_marks_keeps_pending_cancellations() -> None:
    """Cancelled timers still waiting in the heap stay cancelled through a sweep; the rest fire."""
    timers = Timers()
    handles = [timers.set(1000.0 + n, TimerKind.TTL, f"i{n}") for n in range(100)]
    for handle in handles[1::2]:
        timers.cancel(handle)
    for n in range(1000):  # fired-then-cancelled timers force several sweeps
        stale = timers.set(float(n), TimerKind.OFFER_EXPIRY, f"o{n}")
        fire_all(timers, float(n))
        timers.cancel(stale)
    assert fire_all(timers, 5000.0) == [f"i{n}" for n in range(0, 100, 2)]
    assert timers.next_due() is None
