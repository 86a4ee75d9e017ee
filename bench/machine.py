"""The machine the figures come from: what it is, and whether something else is using it.

Every figure of a run is compared with the stock bot measured in the same run, but other work on the machine
still moves them (the November figures were taken beside a CI run and did not reproduce). Before each system
under test is started the benchmark samples the CPU for a few seconds; when other work uses more than
``BUSY_SHARE`` of it the run stops with a clear message, unless ``--allow-busy`` (development only: such figures
are marked and must not go into README)."""
from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Dict, List, Tuple

BUSY_SHARE = 0.15        # of all cores, over the sample
SAMPLE_SECONDS = 5.0
SETTLE_SECONDS = 90.0    # how long to wait for a busy machine to become quiet before giving up


class MachineBusy(RuntimeError):
    pass


def describe() -> Dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    except OSError:
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": mem, "python": platform.python_version(),
            "platform": platform.platform(), "hostname": platform.node()}


def load_average() -> List[float]:
    """The 1/5/15-minute load average."""
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_times() -> Tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), idle


def cpu_busy(seconds: float = SAMPLE_SECONDS) -> float:
    """Share of all cores busy over ``seconds`` (0–1), measured now: unlike the load average it does not
    remember the benchmark's own previous target."""
    total0, idle0 = _cpu_times()
    time.sleep(seconds)
    total1, idle1 = _cpu_times()
    total = total1 - total0
    return round(1 - (idle1 - idle0) / total, 3) if total else 0.0


def check_quiet(what: str, allow_busy: bool) -> Dict:
    """Wait (up to SETTLE_SECONDS) for a quiet machine; the samples taken. Raises MachineBusy unless allowed."""
    deadline = time.monotonic() + (0 if allow_busy else SETTLE_SECONDS)
    while True:
        busy = cpu_busy()
        if busy <= BUSY_SHARE:
            return {"cpu_busy_before": busy, "load_average_before": load_average(), "busy": False}
        if time.monotonic() >= deadline:
            message = (f"the machine is busy before {what}: {busy:.0%} of its {os.cpu_count()} cores used by other "
                       f"work (load average {load_average()}); figures taken now would not hold.")
            if not allow_busy:
                raise MachineBusy(message + " Measure on an idle machine, or pass --allow-busy (development only: "
                                            "the results are marked busy and kept out of latest.json and README).")
            print(f"  WARNING: {message} Measuring anyway (--allow-busy).", flush=True)
            return {"cpu_busy_before": busy, "load_average_before": load_average(), "busy": True}
        time.sleep(5)
