"""Issue 12 items 8 (the Rasa token is not on any command line), 10 (.dockerignore keeps secrets and local data
out of the image) and 14 (Kubernetes NetworkPolicies: only Rasa reaches the action servers, only the ingress —
and the console, for the HTTP API — reaches Rasa)."""
from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import yaml

from tests.conftest import ROOT
from tests.security.procfs import command_line, listeners, pids_of


# ------------------------------------------------------------------ item 8: tokens never on a command line

@pytest.mark.stack
def test_no_secret_on_the_command_line_of_any_stack_process(stack):
    from bot.settings import get_settings

    settings = get_settings()
    lines = {}
    for url in (stack.rasa_url, stack.actions_url, stack.console_url):
        port = int(url.rsplit(":", 1)[1])
        for pid in pids_of({inode for _, inode in listeners(port)}):
            lines[pid] = command_line(pid)
    assert any("bot rasa run" in line for line in lines.values()), lines  # Rasa's process was found
    assert len(lines) >= 3, lines
    for line in lines.values():
        for secret in (settings.rasa_token, settings.actions_token, settings.secret_key, settings.hash_key):
            assert secret not in line, line
        assert "--auth-token" not in line


def test_no_deploy_description_puts_a_token_on_a_command_line():
    from bot.prod.topology import build

    commands = [s.command for s in build(Path("models/current.tar.gz")).services]
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yml").read_text())
    commands += [svc.get("command") or [] for svc in compose["services"].values()]
    for doc in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "huimin.yaml").read_text()):
        spec = ((doc or {}).get("spec") or {}).get("template", {}).get("spec", {})
        commands += [c.get("args") or c.get("command") or [] for c in spec.get("containers", [])]
    joined = [" ".join(map(str, c)) for c in commands]
    assert any("bot rasa run" in c for c in joined)
    for c in joined:
        assert "--auth-token" not in c and "TOKEN" not in c and "dev-only" not in c, c


# ------------------------------------------------------------------ item 10: what goes into the image

def _ignored(path: str, patterns: List[str]) -> bool:
    """Docker's .dockerignore rules: patterns relative to the context, later ones win, ``!`` re-includes, a
    pattern matching a directory excludes everything below it, ``**`` matches any number of directories."""
    result = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if pattern.startswith("**/"):
            tail = pattern[3:]
            hit = any(fnmatch.fnmatchcase(p.rsplit("/", 1)[-1], tail) or fnmatch.fnmatchcase(p, "*/" + tail)
                      for p in prefixes)
        else:
            hit = any(fnmatch.fnmatchcase(p, pattern) for p in prefixes)
        if hit:
            result = not negate
    return result


def _dockerignore() -> List[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


@pytest.mark.parametrize("path", [".env", ".env.production", "var/demo_accounts.txt", "var/huimin.db",
                                  "var/tracker.db", "var/log/rasa.log", "var/editor/training/x.yml",
                                  ".venv/bin/python", ".git/config", "models/huimin-0123.tar.gz",
                                  "build/data/nlu/knowledge_generated.yml", "tests/artifacts/page.png",
                                  "bot/__pycache__/settings.cpython-310.pyc", "deploy/tls.key"])
def test_secrets_and_local_data_stay_out_of_the_image(path):
    assert _ignored(path, _dockerignore()), path


@pytest.mark.parametrize("path", ["requirements.lock", "bot/settings.py", "actions/status.py", "config.yml",
                                  "data/nlu/status.yml", "knowledge/programs/dibao.yml", "bot/domain/core.yml",
                                  "bot/endpoints.yml", "deploy/Dockerfile", ".env.example"])
def test_what_the_image_needs_is_still_sent(path):
    assert not _ignored(path, _dockerignore()), path


def test_every_file_in_the_repository_that_git_ignores_as_local_is_ignored_by_docker_too():
    for line in (ROOT / ".gitignore").read_text().splitlines():
        entry = line.strip().rstrip("/")
        if entry and not entry.startswith("#") and "*" not in entry:
            assert _ignored(entry + "/x" if not entry.startswith(".env") else entry, _dockerignore()), entry


# ------------------------------------------------------------------ item 14: who may reach whom in Kubernetes

INGRESS_NS = "ingress-nginx"
PODS = {  # name: (namespace, labels, port it serves)
    "rasa": ("huimin", {"app": "huimin", "kind": "rasa"}, 5005),
    "actions": ("huimin", {"app": "huimin", "kind": "actions"}, 5055),
    "console": ("huimin", {"app": "huimin", "kind": "console"}, 8080),
    "migrate-job": ("huimin", {"job-name": "huimin-migrate"}, None),
    "ingress": (INGRESS_NS, {"app.kubernetes.io/name": "ingress-nginx"}, None),
    "other-app": ("huimin", {"app": "something-else"}, None),
    "other-namespace": ("default", {"app": "huimin", "kind": "rasa"}, None),
}


def _matches(selector: Optional[Dict], labels: Dict[str, str]) -> bool:
    if selector is None:
        return False
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()) and \
        not selector.get("matchExpressions")


def _allowed(policies: List[Dict], source: str, target: str) -> bool:
    """Kubernetes semantics: a pod selected by any Ingress policy accepts only what some rule allows."""
    src_ns, src_labels, _ = PODS[source]
    dst_ns, dst_labels, port = PODS[target]
    selecting = [p for p in policies if _matches(p["spec"]["podSelector"], dst_labels)
                 and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])]
    if not selecting:
        return True
    ns_labels = {"kubernetes.io/metadata.name": src_ns}
    for p in selecting:
        for rule in p["spec"].get("ingress") or []:
            ports = [x.get("port") for x in rule.get("ports") or []]
            if ports and port not in ports:
                continue
            for peer in rule.get("from") or []:
                ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
                if ns_sel is not None and pod_sel is not None:
                    hit = _matches(ns_sel, ns_labels) and _matches(pod_sel, src_labels)
                elif ns_sel is not None:
                    hit = _matches(ns_sel, ns_labels)
                else:  # a podSelector alone means pods of the policy's own namespace
                    hit = src_ns == dst_ns and _matches(pod_sel, src_labels)
                if hit:
                    return True
    return False


def test_kubernetes_network_policies_let_only_the_intended_traffic_through():
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "huimin.yaml").read_text()) if d]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert policies, "no NetworkPolicy in deploy/k8s/huimin.yaml"
    allowed = {(s, t) for t in ("rasa", "actions", "console") for s in PODS if s != t and _allowed(policies, s, t)}
    assert allowed == {("rasa", "actions"), ("ingress", "rasa"), ("console", "rasa"), ("ingress", "console")}
    # The deployments carry the labels the policies select on.
    for d in docs:
        if d["kind"] == "Deployment":
            labels = d["spec"]["template"]["metadata"]["labels"]
            assert labels["app"] == "huimin" and labels["kind"] in ("rasa", "actions", "console")


def test_the_kubernetes_ingress_publishes_no_rest_channel():
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "huimin.yaml").read_text()) if d]
    paths = [p["path"] for d in docs if d["kind"] == "Ingress" for r in d["spec"]["rules"]
             for p in r["http"]["paths"]]
    assert "/webhooks/wechat/" in paths and "/socket.io/" in paths
    assert not [p for p in paths if p.startswith("/webhooks") and p != "/webhooks/wechat/"], paths
