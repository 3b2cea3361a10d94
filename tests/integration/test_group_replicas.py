"""Real Ray: two groups of one model side by side, from a rendered stack, on both workloads.

The stack (TP=2 on 1-GPU nodes: a head and a worker per group, `replicas: 2`)
goes through the real program. Each pod is a network + PID + mount namespace
that runs the container command of its rendered pod template verbatim (the
entrypoint paths mapped to the ConfigMap's scripts), with the env the kubelet
would give it: fieldRefs filled in, LeaderWorkerSet variables first, `$(VAR)`
expanded (tests/test_workloads.py::kubelet_env). Pod DNS names come from a
private /etc/hosts per pod, as cluster DNS would answer them.

Every group must form with its own head: each head sees exactly its planned 2
Ray nodes and 2 GPUs (a worker at the wrong head would make one group 3/2 and
the other 1/2, and neither ready), and each worker joins the address of its
own group's head.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vllm_fleet.constants import CACHE_DIR, ENTRYPOINT_DIR
from ..dataplane_support import named, of_kind, render
from ..test_workloads import POD_INDEX, kubelet_env
from .test_ray_group import FAKE_VLLM, PYTHON_BIN, Network, netns_unusable, run, wait_until

NAMESPACE, MODEL = "ray-test", "fleet-test"


def group_stack(workload: str) -> dict[str, Any]:
    return {
        "namespace": NAMESPACE,
        "nodePool": {"gpusPerNode": 1},
        "models": [{
            "name": MODEL,
            "model": "org/fleet-test",
            "parallelism": {"tensor": 2},
            "replicas": 2,
            "workload": workload,
            # Four Ray nodes start at once on a shared test machine: generous bounds, restarts as in Kubernetes.
            "launcher": {"type": "ray", "waitTimeoutSeconds": 300, "pollIntervalSeconds": 2, "watchdogGraceSeconds": 30},
            "storage": {"type": "existing-pvc", "claimName": "weights"},
        }],
    }


@dataclass
class PodSpec:
    """One pod as its controller would create it: name, DNS name, container, downward-API fields, injected env."""

    name: str
    dns: str
    group: int
    container: dict[str, Any]
    fields: dict[str, str]
    injected: dict[str, str] = field(default_factory=dict)


def statefulset_pods(rendered) -> list[PodSpec]:
    """Every pod of both StatefulSets; `group` is what the test expects (ordinal // workers), not what it tells the pod."""
    domain = f"{MODEL}-group.{NAMESPACE}.svc.cluster.local"
    pods = []
    for role in ("head", "worker"):
        sts = named(rendered, "StatefulSet", f"{MODEL}-{role}")
        for ordinal in range(sts["spec"]["replicas"]):
            name = f"{MODEL}-{role}-{ordinal}"
            container = sts["spec"]["template"]["spec"]["containers"][0]
            pods.append(PodSpec(name, f"{name}.{domain}", ordinal, container, {"metadata.name": name, POD_INDEX: str(ordinal)}))
    return pods


def leaderworkerset_pods(rendered) -> list[PodSpec]:
    lws = named(rendered, "LeaderWorkerSet", f"{MODEL}-group")
    template, pods = lws["spec"]["leaderWorkerTemplate"], []
    for group in range(lws["spec"]["replicas"]):
        leader = f"{MODEL}-group-{group}"
        for index in range(template["size"]):
            name = leader if index == 0 else f"{leader}-{index}"
            pod_template = template["leaderTemplate" if index == 0 else "workerTemplate"]
            injected = {"LWS_LEADER_ADDRESS": f"{leader}.{MODEL}-group.{NAMESPACE}", "LWS_GROUP_SIZE": str(template["size"]),
                        "LWS_WORKER_INDEX": str(index)}
            pods.append(PodSpec(name, f"{name}.{MODEL}-group.{NAMESPACE}", group, pod_template["spec"]["containers"][0],
                                {"metadata.name": name}, injected))
    return pods


class GroupPod:
    """Runs one rendered container, restarting it when it exits (restartPolicy Always, 2 s back-off)."""

    def __init__(self, spec: PodSpec, ns: str, ip: str, workdir: Path, scripts: Path, cluster_dns: str):
        self.spec, self.ns, self.ip = spec, ns, ip
        self.dir = workdir / spec.name
        (self.dir / "ray").mkdir(parents=True)
        (self.dir / "home").mkdir()
        self.log = self.dir / "pod.log"
        self.scripts, self.hosts = scripts, self.dir / "hosts"
        # As in a pod: the cluster's names, and its own hostname (this machine's: no UTS namespace).
        self.hosts.write_text(f"127.0.0.1 localhost\n{ip} {socket.gethostname()}\n{cluster_dns}")
        env = kubelet_env(spec.container, {**spec.fields, "status.podIP": ip}, spec.injected)
        # Container paths that don't exist here; the harness points HOME and state at the pod's folder.
        env = {k: v for k, v in env.items() if not v.startswith(CACHE_DIR)}
        self.env = {**env, "PATH": f"{PYTHON_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOME": str(self.dir / "home"), "LANG": "C.UTF-8", "VLLM_FLEET_VLLM_BIN": str(FAKE_VLLM),
                    "VLLM_FLEET_STATE_DIR": str(self.dir / "state")}
        self.proc: subprocess.Popen | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._supervise, name=f"pod-{spec.name}", daemon=True)

    def _argv(self, command: list[str]) -> list[str]:
        return [part.replace(ENTRYPOINT_DIR, str(self.scripts)) for part in command]

    def _in_pod(self, *argv: str, pid: bool) -> list[str]:
        isolate = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"] if pid else ["unshare", "--mount"]
        mounts = 'mount --bind "$1" /tmp/ray && mount --bind "$2" /etc/hosts && shift 2 && exec "$@"'
        return ["ip", "netns", "exec", self.ns, *isolate, "sh", "-c", mounts, "sh", str(self.dir / "ray"), str(self.hosts), *argv]

    def start(self) -> None:
        self.thread.start()

    def _supervise(self) -> None:
        while not self.stopping.is_set():
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    self._in_pod(*self._argv(self.spec.container["command"]), pid=True),
                    env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )
            self.proc.wait()
            self.stopping.wait(2)

    def ready(self) -> bool:
        probe = self._argv(self.spec.container["readinessProbe"]["exec"]["command"])
        result = run(*self._in_pod(*probe, pid=False), check=False, timeout=15, env=self.env)
        return result.returncode == 0

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        self.stopping.set()
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
        if self.thread.ident is not None:
            self.thread.join(timeout=30)


@contextlib.contextmanager
def running_groups(rendered, pods: list[PodSpec], tag: str):
    """Every pod of the stack in its own namespaces, started together; torn down (logs kept on failure)."""
    reason = netns_unusable()
    assert reason is None, f"the real-Ray group tests can't run: {reason}"
    os.makedirs("/tmp/ray", exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="vfg", dir="/tmp"))
    net, started = Network(tag), []
    try:
        [config_map] = [o for o in of_kind(rendered, "ConfigMap") if o["metadata"]["name"] == f"{MODEL}-entrypoints"]
        scripts = workdir / "etc"
        scripts.mkdir()
        for name, text in config_map["data"].items():
            (scripts / name).write_text(text)
        addresses = [net.add_host(f"p{octet}", octet) for octet in range(11, 11 + len(pods))]
        cluster_dns = "".join(f"{ip} {spec.dns}\n" for spec, (_, ip) in zip(pods, addresses))
        started = [GroupPod(spec, ns, ip, workdir, scripts, cluster_dns) for spec, (ns, ip) in zip(pods, addresses)]
        # One Ray node starting at a time (a shared CI machine can't start four at once within Ray's own
        # start-up timeouts); what is under test, which head each worker joins, doesn't depend on the order.
        for group in sorted({pod.spec.group for pod in started}):
            members = [pod for pod in started if pod.spec.group == group]
            for pod in sorted(members, key=lambda p: p.env["VLLM_FLEET_ROLE"] != "head"):
                pod.start()
                wait_until(lambda: "ray start" in pod.log_text() and _ray_up(pod), 300, f"{pod.spec.name}'s Ray node", interval=2)
        yield {pod.spec.name: pod for pod in started}
    finally:
        try:
            for pod in started:
                pod.stop()
        finally:
            net.close()
            shutil.rmtree(workdir, ignore_errors=True)


def _ray_up(pod: "GroupPod") -> bool:
    """A head is up once it waits for (or has) its group; a worker once it joined its head."""
    log = pod.log_text()
    return ("waiting for group" in log or "group complete" in log) if pod.env["VLLM_FLEET_ROLE"] == "head" else "joined the group" in log


def _dump(pods) -> str:
    return "\n".join(f"----- {name} -----\n" + "\n".join(pod.log_text().splitlines()[-40:]) for name, pod in pods.items())


def _groups_form_with_their_own_heads(pods: dict[str, GroupPod], heads_by_worker: dict[str, str]) -> None:
    try:
        wait_until(lambda: all(pod.ready() for pod in pods.values()), 420, "both groups ready", interval=2)
        for worker, head in heads_by_worker.items():
            head_pod = pods[head]
            assert "group complete" in head_pod.log_text() and "2/2 Ray nodes, 2/2 GPUs" in head_pod.log_text(), head
            assert f"ray start --address={head_pod.spec.dns}:" in pods[worker].log_text(), worker
            # The group's API answers from inside its worker's network namespace.
            fetch = f"import urllib.request; print(urllib.request.urlopen('http://{head_pod.ip}:8000/v1/models', timeout=10).status)"
            status = run("ip", "netns", "exec", pods[worker].ns, sys.executable, "-c", fetch, check=False)
            assert status.stdout.strip() == "200", (head, status.stdout, status.stderr)
    except AssertionError:
        print(_dump(pods))
        raise


def test_two_statefulset_groups_each_form_with_their_own_head(tmp_path):
    rendered = render(tmp_path, group_stack("statefulsets"), stack="groups")
    with running_groups(rendered, statefulset_pods(rendered), f"vs{os.getpid() % 10000}") as pods:
        _groups_form_with_their_own_heads(pods, {f"{MODEL}-worker-{g}": f"{MODEL}-head-{g}" for g in range(2)})


def test_two_leaderworkerset_groups_each_form_with_their_own_leader(tmp_path):
    rendered = render(tmp_path, group_stack("leaderworkerset"), stack="groups")
    with running_groups(rendered, leaderworkerset_pods(rendered), f"vl{os.getpid() % 10000}") as pods:
        _groups_form_with_their_own_heads(pods, {f"{MODEL}-group-{g}-1": f"{MODEL}-group-{g}" for g in range(2)})
