"""Everything a benchmark run starts is stopped on every way out: normal end, an exception, Ctrl-C, SIGTERM
or SIGHUP (atexit + signal handlers that turn the signal into SystemExit, so every ``finally`` runs too)."""
from __future__ import annotations

import atexit
import signal
from typing import Callable, List

from bot.stack import processes

_procs: List[processes.Proc] = []
_callbacks: List[Callable[[], None]] = []
_installed = False


def track(procs: List[processes.Proc]) -> List[processes.Proc]:
    _procs.extend(procs)
    return procs


def on_exit(fn: Callable[[], None]) -> None:
    """Run ``fn`` when the run ends (or now, through ``stop_all``); e.g. drop a scratch database."""
    _callbacks.append(fn)


def stop(procs: List[processes.Proc]) -> None:
    processes.stop(procs)
    for p in procs:
        if p in _procs:
            _procs.remove(p)


def stop_all() -> None:
    alive = list(_procs)
    _procs.clear()
    if alive:
        processes.stop(alive)
    while _callbacks:
        fn = _callbacks.pop()
        try:
            fn()
        except Exception as exc:  # cleaning up must go on with the rest
            print(f"  cleanup: {exc}", flush=True)


def _on_signal(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def install() -> None:
    global _installed
    if _installed:
        return
    atexit.register(stop_all)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    _installed = True
