"""A small stand-in for Kubernetes that runs a rendered stack's pods with real vLLM.

What comes from the rendered stack (the real program under Pulumi's mock
monitor, `render_stack`): the StatefulSets' container command, env, volume
mounts, ports and probes, and the scripts in the `<model>-entrypoints`
ConfigMap. Nothing in them is edited; the pod runs `/bin/bash
/etc/vllm-fleet/head.sh` as its PID 1, as in a container.

What the harness supplies, as a kubelet and a cluster would:
- a network namespace per pod (the Ray test's `Network`: a bridge in a switch
  namespace, nothing configured in the host's namespace), a PID namespace
  (`unshare --pid --mount-proc --kill-child`, so killing PID 1 takes every
  process of the container), a UTS namespace with the pod's hostname, and a
  private mount namespace;
- in that mount namespace: every volumeMount of the pod spec bound to a host
  folder (the ConfigMap's files at /etc/vllm-fleet, the model at /models, a
  fresh folder per emptyDir, kept across container restarts like an emptyDir),
  and an /etc/hosts naming the pod's own hostname and FQDN with its IP, plus
  the other members' FQDNs (what cluster DNS answers). Without the own entry
  gloo resolves the hostname to 127.0.0.1 and peers connect to the wrong
  address;
- env: `fieldRef` values (pod IP, pod index, name) and `secretKeyRef` values
  (the test's API key) resolved, plus the node's: PATH with .venv-vllm first
  (`vllm`, `ray`, `python3`), VLLM_CPU_KVCACHE_SPACE (GiB of KV cache; vLLM's
  CPU default is sized for a server), VLLM_CPU_OMP_THREADS_BIND (a core per
  pod, as a CPU manager pins them) and, for the Ray layout only, the shim in
  shim/ on PYTHONPATH (see its docstring);
- restart on exit (restartPolicy Always, no CrashLoopBackOff delay), from the
  Ray test's `Pod` supervisor;
- probes exactly as the pod spec states them: exec probes run inside the
  container's namespaces (`nsenter`), httpGet probes from the pod's network.

Needs root, iproute2 (ip netns), util-linux (unshare, nsenter, mount).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import yaml

from vllm_fleet.render import load_project, render_stack
from tests.integration import test_ray_group as ray_harness
from tests.integration.test_ray_group import Network, run, wait_until

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SHIM = Path(__file__).resolve().with_name("shim")
API_KEY = "test-key-0123456789"
CLUSTER_DOMAIN = "svc.cluster.local"
KV_CACHE_GIB = "1"
CLIENT_OCTET = 200
TMPFS = "tmpfs"  # a mount source meaning "mount a new tmpfs here"


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------
class RenderedModel:
    """One model of a rendered stack: its StatefulSets and entrypoint scripts."""

    def __init__(self, objects: list[dict], model_name: str, summary: dict, launcher: dict):
        self.name = model_name
        self.launcher = launcher
        self.summary = summary
        self.statefulsets = {
            o["metadata"]["name"]: o for o in objects if o["kind"] == "StatefulSet"
        }
        [config_map] = [
            o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == f"{model_name}-entrypoints"
        ]
        self.scripts: dict[str, str] = config_map["data"]
        self.config_map_name = config_map["metadata"]["name"]
        [self.namespace] = {o["metadata"]["namespace"] for o in objects if o["kind"] == "StatefulSet"}

    def statefulset(self, role: str) -> dict:
        return self.statefulsets[f"{self.name}-{role}"]


def render_model(stack_config: dict, workdir: Path, api_key: bool) -> RenderedModel:
    """Render `stack_config` (the `vllm-fleet:` keys) with the real program; return its only model."""
    project_dir = workdir / "project"
    (project_dir / "stacks").mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, project_dir / name)
    config = {f"vllm-fleet:{key}": value for key, value in stack_config.items()}
    if api_key:
        # As `pulumi config set --secret` stores it; the render redacts it, the test's
        # "kubelet" resolves the Secret to API_KEY.
        config["vllm-fleet:apiKey"] = {"secure": "v1:dGVzdA=="}
    (project_dir / "stacks" / "Pulumi.realengine.yaml").write_text(yaml.safe_dump({"config": config}))
    render = render_stack(load_project(project_dir), "realengine")
    [model] = stack_config["models"]
    return RenderedModel(list(render.objects()), model["name"], render.outputs["models"][model["name"]],
                         model.get("launcher", {}))


# ---------------------------------------------------------------------------
# Pods
# ---------------------------------------------------------------------------
class KubePod(ray_harness.Pod):
    """A pod of a rendered StatefulSet. Reuses the Ray test's container supervisor
    (start, kill, terminate, hold_restarts, release, stop, wait_exit, logs);
    replaces how the container is spawned and probed."""

    def __init__(self, lab: "Cluster", statefulset: dict, index: int, octet: int):
        self.index_in_group = octet - 1
        pod_name = f"{statefulset['metadata']['name']}-{index}"
        self.name, self.role = pod_name, statefulset["metadata"]["name"].rsplit("-", 1)[1]
        self.ns, self.ip = lab.net.add_host(pod_name, octet)
        self.index = index
        self.fqdn = f"{pod_name}.{statefulset['spec']['serviceName']}.{lab.model.namespace}.{CLUSTER_DOMAIN}"
        self.spec = statefulset["spec"]["template"]["spec"]
        self.container = self.spec["containers"][0]
        self.dir = lab.workdir / pod_name
        self.log = self.dir / "pod.log"
        self.lab = lab
        self.ctx = {}
        self.mounts = self._volumes(lab)
        self.env = self._env(lab)
        self.proc = None
        self.starts, self.exits = [], []
        self._cv = threading.Condition()
        self._stopping = self._held = self._hold_next = False
        self._thread = None

    def _volumes(self, lab: "Cluster") -> list[tuple[Path | str, str]]:
        """(host folder, mount path) for every volumeMount; /tmp last, since it hides the host's /tmp."""
        volumes = {v["name"]: v for v in self.spec["volumes"]}
        mounts = []
        for mount in self.container["volumeMounts"]:
            volume = volumes[mount["name"]]
            if "configMap" in volume:
                assert volume["configMap"]["name"] == lab.model.config_map_name, volume
                source = self.dir / "volumes" / mount["name"]
                source.mkdir(parents=True, exist_ok=True)
                for file_name, text in lab.model.scripts.items():
                    (source / file_name).write_text(text)
            elif "persistentVolumeClaim" in volume:
                source = lab.weights_dir
            elif volume.get("emptyDir", {}).get("medium") == "Memory":
                source = TMPFS  # a fresh tmpfs per container start (/dev/shm)
            elif "emptyDir" in volume:
                source = self.dir / "volumes" / mount["name"]
                source.mkdir(parents=True, exist_ok=True)
            else:
                raise AssertionError(f"{self.name}: the harness has no stand-in for volume {volume}")
            mounts.append((source, mount["mountPath"]))
        hosts = self.dir / "hosts"
        hosts.write_text(lab.hosts_file(self))
        mounts.append((hosts, "/etc/hosts"))
        return sorted(mounts, key=lambda m: m[1] == "/tmp")

    def _env(self, lab: "Cluster") -> dict[str, str]:
        env = {
            "PATH": f"{VENV_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "VLLM_CPU_KVCACHE_SPACE": KV_CACHE_GIB,
            # One core per pod, as a CPU manager would pin them: vLLM's "auto" binds
            # every pod's compute threads to the same core 0.
            "VLLM_CPU_OMP_THREADS_BIND": str(self.index_in_group % (os.cpu_count() or 1)),
            **lab.node_env,
        }
        fields = {
            "status.podIP": self.ip,
            "metadata.name": self.name,
            "metadata.namespace": lab.model.namespace,
            "metadata.labels['apps.kubernetes.io/pod-index']": str(self.index),
        }
        for var in self.container.get("env", []):
            if "value" in var:
                env[var["name"]] = str(var["value"])
                continue
            source = var["valueFrom"]
            if "fieldRef" in source:
                env[var["name"]] = fields[source["fieldRef"]["fieldPath"]]
            elif "secretKeyRef" in source:
                assert source["secretKeyRef"]["name"] == "vllm-api-key", source
                env[var["name"]] = API_KEY
            else:
                raise AssertionError(f"{self.name}: the harness has no stand-in for env source {source}")
        return env

    def _spawn(self) -> subprocess.Popen:
        # Positional args only: hostname, then (source, target) pairs, then "--" and the command.
        setup = (
            'set -e; host="$1"; shift\n'
            'while [ "$1" != "--" ]; do\n'
            '  [ -e "$2" ] || mkdir -p "$2"\n'
            '  if [ "$1" = tmpfs ]; then mount -t tmpfs tmpfs "$2"; else mount --bind "$1" "$2"; fi\n'
            '  shift 2\n'
            'done; shift\n'
            'hostname "$host"; cd /; exec "$@"'
        )
        pairs = [str(p) for source, target in self.mounts for p in (source, target)]
        with open(self.log, "ab") as f:
            f.write(f"=== harness: container start {len(self.starts) + 1} ===\n".encode())
            f.flush()
            return subprocess.Popen(
                ["ip", "netns", "exec", self.ns, "unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                 "--uts", "sh", "-c", setup, "sh", self.name, *pairs, "--", *self.container["command"]],
                env=self.env, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    # -- probes, as the pod spec states them ---------------------------------------
    def probe(self, kind: str) -> tuple[bool, str]:
        spec = self.container[f"{kind}Probe"]
        timeout = spec.get("timeoutSeconds", 1) + 5  # slack for a 2-core machine under load
        if "exec" in spec:
            pid1 = self.container_pid1()
            if pid1 is None:
                return False, "container not running"
            try:
                r = run("nsenter", "--target", str(pid1), "--mount", "--net", "--uts", "--pid", "--",
                        *spec["exec"]["command"], check=False, timeout=timeout, env=self.env)
            except subprocess.TimeoutExpired:
                return False, "probe timed out"
            return r.returncode == 0, (r.stdout + r.stderr).strip()
        port = self.port(spec["httpGet"]["port"])
        status, body = self.request("GET", f"http://{self.ip}:{port}{spec['httpGet']['path']}", timeout=timeout)
        return status is not None and 200 <= status < 400, f"{status} {body[:200]}"

    def ready(self) -> bool:
        return self.probe("readiness")[0]

    def port(self, name_or_number) -> int:
        if isinstance(name_or_number, int):
            return name_or_number
        [number] = [p["containerPort"] for p in self.container["ports"] if p.get("name") == name_or_number]
        return number

    def request(self, method: str, url: str, body: dict | None = None, headers: dict | None = None,
                timeout: float = 60) -> tuple[int | None, str]:
        """An HTTP request from inside this pod's network namespace: (status or None, body)."""
        return http_request(self.ns, method, url, body, headers, timeout)


_HTTP_CLIENT = """
import json, sys, urllib.error, urllib.request
method, url, body, headers, timeout = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), float(sys.argv[5])
data = body.encode() if body else None
if data:
    headers["Content-Type"] = "application/json"
req = urllib.request.Request(url, data=data, headers=headers, method=method)
try:
    with urllib.request.urlopen(req, timeout=timeout) as r:
        print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode(errors="replace"))
except Exception as e:
    print("ERR"); print(repr(e))
"""


def http_request(ns: str, method: str, url: str, body: dict | None, headers: dict | None,
                 timeout: float) -> tuple[int | None, str]:
    argv = [method, url, json.dumps(body) if body is not None else "", json.dumps(headers or {}), str(timeout)]
    try:
        r = run("ip", "netns", "exec", ns, sys.executable, "-c", _HTTP_CLIENT, *argv, check=False,
                timeout=timeout + 15)
    except subprocess.TimeoutExpired:
        return None, "client timed out"
    status, _, text = r.stdout.partition("\n")
    return (int(status) if status.isdigit() else None), text.strip() or r.stderr.strip()


class Cluster:
    """The pods of one rendered model on their own network, plus a client namespace."""

    def __init__(self, model: RenderedModel, weights_dir: Path, node_env: dict[str, str] | None = None):
        self.model = model
        self.weights_dir = weights_dir
        self.node_env = node_env or {}
        self.tag = f"re{os.getpid() % 100000}"
        self.workdir = Path(tempfile.mkdtemp(prefix="vf-real-", dir="/tmp"))
        self.net = Network(self.tag)
        self.client_ns, _ = self.net.add_host("client", CLIENT_OCTET)
        self.pods: list[KubePod] = []
        head_set = model.statefulset("head")
        self._members = [(head_set, 0)]
        worker_set = model.statefulsets.get(f"{model.name}-worker")
        if worker_set:
            self._members += [(worker_set, i) for i in range(worker_set["spec"]["replicas"])]
        # Addresses first (every hosts file names every member), then the pods.
        self._addresses = {
            f"{s['metadata']['name']}-{i}": f"{ray_harness.SUBNET}.{octet}"
            for octet, (s, i) in enumerate(self._members, start=1)
        }
        for octet, (statefulset, index) in enumerate(self._members, start=1):
            self.pods.append(KubePod(self, statefulset, index, octet))
        self.head = self.pods[0]
        self.workers = self.pods[1:]

    def hosts_file(self, pod: KubePod) -> str:
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        for statefulset, index in self._members:
            name = f"{statefulset['metadata']['name']}-{index}"
            fqdn = f"{name}.{statefulset['spec']['serviceName']}.{self.model.namespace}.{CLUSTER_DOMAIN}"
            lines.append(f"{self._addresses[name]}\t{fqdn}\t{name}")
        return "\n".join(lines) + "\n"

    def start(self):
        for pod in self.pods:
            pod.start()

    def group_ready(self) -> bool:
        return all(pod.ready() for pod in self.pods)

    def ensure_ready(self, timeout: float, max_restarts: int = 20) -> float:
        """Start or release every pod and wait until all are Ready; a pod in a
        restart loop fails the wait at once, naming the pod."""
        exits_before = {pod.name: len(pod.exits) for pod in self.pods}
        for pod in self.pods:
            pod.release()
            if pod._thread is None:
                pod.start()

        def ready_or_looping() -> bool:
            for pod in self.pods:
                restarts = len(pod.exits) - exits_before[pod.name]
                assert restarts <= max_restarts, f"{pod.name} restarted {restarts} times:\n{self.dump_logs()}"
            return self.group_ready()

        return wait_until(ready_or_looping, timeout, "every pod of the group ready", interval=1)[0]

    def api(self, method: str, path: str, body: dict | None = None, key: str | None = None,
            timeout: float = 120) -> tuple[int | None, str]:
        """A request to the model's API on the head pod, from the client namespace."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        url = f"http://{self.head.ip}:{self.head.port('http')}{path}"
        return http_request(self.client_ns, method, url, body, headers, timeout)

    def dump_logs(self, tail: int = 80) -> str:
        out = []
        for pod in self.pods:
            lines = pod.log_text().splitlines()[-tail:]
            out.append(f"----- {pod.name} ({pod.ip}) last {len(lines)} lines -----")
            out.extend(lines)
        return "\n".join(out)

    def close(self, keep_logs_in: Path | None = None):
        for pod in self.pods:
            try:
                pod.stop()
            except Exception as e:  # keep tearing down the rest; say what failed
                print(f"stopping {pod.name}: {e!r}", file=sys.stderr)
        self.net.close()
        if keep_logs_in is not None:
            keep_logs_in.mkdir(parents=True, exist_ok=True)
            for pod in self.pods:
                if pod.log.exists():
                    shutil.copy(pod.log, keep_logs_in / f"{pod.name}.log")
        shutil.rmtree(self.workdir, ignore_errors=True)
