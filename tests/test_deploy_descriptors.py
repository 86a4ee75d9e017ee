"""The compose file and the Kubernetes manifests describe the topology that is actually run and tested
(bot/prod/topology.py): same processes, commands, ports, health checks and settings."""
from pathlib import Path

import yaml

from bot.prod.topology import SHARED_ENV_KEYS, build, compose_nginx_conf

ROOT = Path(__file__).resolve().parent.parent
CONTAINER_PORTS = {"rasa": 5005, "actions": 5055, "console": 8080}


def _normalise(cmd, port):
    """Commands differ only in the model path, the port, the listening address (loopback on one machine, all
    interfaces in a container) and the token's spelling."""
    out = []
    for i, part in enumerate(cmd):
        prev = cmd[i - 1] if i else ""
        if prev == "--model":
            part = "MODEL"
        elif prev == "--port":
            part = "PORT"
        elif prev in ("--interface", "--host"):
            part = "HOST"
        elif prev == "--auth-token":
            part = "TOKEN"
        elif part.endswith("python") or part.endswith("python3"):
            part = "python"
        out.append(part)
    return out


def topology():
    return build(Path("models/current.tar.gz"))


def test_compose_matches_topology():
    topo = topology()
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yml").read_text())
    services = compose["services"]
    for svc in topo.services:
        assert svc.name in services, f"compose lacks {svc.name}"
        if svc.kind == "nginx":
            continue
        spec = services[svc.name]
        assert _normalise(spec["command"], None) == _normalise(svc.command, None), svc.name
        assert f"127.0.0.1:{CONTAINER_PORTS[svc.kind]}{svc.health_path}" in " ".join(spec["healthcheck"]["test"])
        assert set(SHARED_ENV_KEYS) <= set(spec["environment"]), f"{svc.name} misses settings"
    rendered = compose_nginx_conf(topo)
    assert (ROOT / "deploy" / "nginx.compose.conf").read_text() == rendered, \
        "deploy/nginx.compose.conf is stale: regenerate it from the template (see bot/prod/topology.py)"


def test_kubernetes_matches_topology():
    topo = topology()
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "huimin.yaml").read_text()) if d]
    deployments = {d["metadata"]["labels"]["kind"]: d for d in docs if d["kind"] == "Deployment"}
    config_keys = set()
    for d in docs:
        if d["kind"] in ("ConfigMap", "Secret"):
            config_keys |= set((d.get("data") or d.get("stringData")).keys())
    assert set(SHARED_ENV_KEYS) <= config_keys
    for kind in ("rasa", "actions", "console"):
        expected = topo.of_kind(kind)
        dep = deployments[kind]
        assert dep["spec"]["replicas"] == len(expected), kind
        container = dep["spec"]["template"]["spec"]["containers"][0]
        # `args`, so the image's ENTRYPOINT (the demo-data guard) runs first.
        assert "command" not in container, kind
        assert _normalise(container["args"], None) == _normalise(expected[0].command, None), kind
        assert container["ports"][0]["containerPort"] == CONTAINER_PORTS[kind]
        assert container["readinessProbe"]["httpGet"]["path"] == expected[0].health_path
    assert any(d["kind"] == "CronJob" and "retention" in d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
               ["containers"][0]["args"] for d in docs)


def test_every_container_starts_through_the_demo_data_guard():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m", "bot.demo_guard", "--exec"]' in dockerfile
    # A `command` would replace the image's entrypoint and skip the guard.
    assert "command:" not in (ROOT / "deploy" / "k8s" / "huimin.yaml").read_text()
