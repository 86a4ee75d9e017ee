"""Nothing a benchmark or production start starts is left running when starting fails half-way: the processes
of the production topology already spawned are stopped when a later one cannot be (bench/targets.py only gets
the list, and so can only stop them, once every process was spawned)."""
from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest


def test_a_topology_that_fails_to_start_leaves_no_process(tmp_path, monkeypatch):
    from bot.prod import cli
    from bot.stack import processes

    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    services = [SimpleNamespace(name=f"svc-{i}", kind="rasa", command=sleeper, port=1, health_path="/")
                for i in range(3)]
    topo = SimpleNamespace(services=services, env={})
    started = []
    spawn = processes.spawn

    def failing_spawn(name, *args, **kwargs):
        if name == "svc-2":
            raise KeyboardInterrupt  # Ctrl-C (or any failure) while the third process is being started
        proc = spawn(name, *args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr(processes, "spawn", failing_spawn)
    with pytest.raises(KeyboardInterrupt):
        cli.start_topology(topo, tmp_path)
    assert len(started) == 2
    assert all(p.popen.poll() is not None for p in started)  # stopped, not left running
