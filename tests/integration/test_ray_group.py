"""Real-Ray test of the Ray launcher entrypoints (templates/ray/*.sh.j2).

Each "pod" is a network namespace (own IP in 10.213.0.0/24, veth into a bridge
that lives in a separate switch namespace, so nothing is configured in the
host's namespace) plus a PID namespace (`unshare --pid --kill-child`): the
rendered head.sh / worker.sh run as PID 1 exactly as in a container, and when
the test kills a "container" the kernel takes all of its processes (Ray's
raylet, GCS, agents, the stand-in server) with it.  Kubernetes' restart-on-exit
is simulated by a supervisor thread per pod.

Every pod also has a second interface on a second bridge (10.214.0.0/24), as
a Multus/RDMA attachment gives it: the listener test checks what Ray and the
API server expose there.

The only substitution is the documented hook VLLM_FLEET_VLLM_BIN, pointing at
fake_vllm.py. The stand-in "loads" for STAND_IN_LOAD_SECONDS before its port
opens, and one scenario switches on its vLLM-0.32 behaviour of exiting with
status 0 when a Ray worker dies (FAKE_VLLM_EXIT_ON_RAY_MEMBER_LOSS).  Each pod also gets a private /tmp/ray (a bind mount inside its
own mount namespace), as a container has its own /tmp: Ray workers use the
head's temp-dir *path*, so with a shared filesystem two nodes would share
session dirs and unix sockets.

The scripts come out of the ConfigMap of a stack rendered by the real program
(`render_scripts`); only the template-contract tests render templates alone.

Needs: root (ip netns, unshare), iproute2, util-linux, and ray in the test
environment (the test extra installs it); missing ones fail the suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import jinja2
import pytest
import yaml

from vllm_fleet import templates
from vllm_fleet.constants import DRAIN_STOP_MARGIN_SECONDS, RAY_PORTS
from vllm_fleet.render import load_project, render_stack

from ..conftest import tool

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "templates"
FAKE_VLLM = Path(__file__).resolve().with_name("fake_vllm.py")
PYTHON_BIN = Path(sys.executable).parent  # the venv with ray: provides `ray` and `python3`
SUBNET = "10.213.0"
# A second network every pod is attached to, like a Multus/RDMA interface
# (`net1`): no NetworkPolicy covers it, so nothing should listen there that
# can be bound elsewhere.
SECONDARY_SUBNET = "10.214.0"
FOREIGN_OCTET = 9  # a host on the secondary network only: not a group member
# The stand-in "loads the model" this long before its API port opens.
STAND_IN_LOAD_SECONDS = 2
HEAD_OCTET, WORKER_OCTET, LONE_HEAD_OCTET, LONE_WORKER_OCTET = 1, 2, 3, 4
# Hostile on purpose: must reach the server byte-for-byte through bash quoting.
SERVED_NAME = "fleet-test 'sq' \"dq\" $HOME;`true` *"
SCRIPTS = ("head", "worker", "probe")


# ---------------------------------------------------------------------------
# The plan of the test group, in the launcher's template vocabulary: the ONE
# place that states it. `render_scripts` turns it into a stack, renders that
# with the real program and checks the plan came out the same.
# ---------------------------------------------------------------------------
def build_context(**overrides) -> dict:
    ctx = {
        "model_name": "fleet-test",
        "expected_nodes": 2,
        "expected_gpus": 2,
        "head_gpus": 1,
        "worker_gpus": 1,
        "ray_ports": RAY_PORTS,
        "api_port": 8000,
        "wait_timeout_seconds": 120,
        "poll_interval_seconds": 1,
        "watchdog_grace_seconds": 5,
        # vLLM's --shutdown-timeout (drain.timeoutSeconds, default 300) plus the margin before SIGKILL.
        "drain_stop_seconds": 300 + DRAIN_STOP_MARGIN_SECONDS,
        # What the stack below plans: `vllm serve` argv, in the launcher's order.
        "serve_args": [
            "/models/org/fleet-test",
            "--served-model-name",
            SERVED_NAME,
            "--tensor-parallel-size",
            "2",
            "--pipeline-parallel-size",
            "1",
            "--host",
            "0.0.0.0",
            "--shutdown-timeout",
            "300",
            "--port",
            "8000",
            "--distributed-executor-backend",
            "ray",
        ],
    }
    ctx.update(overrides)
    return ctx


def render_templates(ctx: dict, outdir: Path) -> dict[str, Path]:
    """The templates alone, for contract tests (a context the planner could never produce)."""
    env = templates.environment()
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in SCRIPTS:
        p = outdir / f"{name}.sh"
        p.write_text(env.get_template(f"ray/{name}.sh.j2").render(**ctx))
        paths[name] = p
    return paths


def stack_for(ctx: dict) -> dict:
    """The stack config whose plan is `ctx`: TP = the GPUs, one node = one worker's GPUs."""
    return {
        "namespace": "ray-test",
        "nodePool": {"gpusPerNode": ctx["worker_gpus"]},
        "models": [
            {
                "name": ctx["model_name"],
                "model": "org/fleet-test",
                "servedModelName": SERVED_NAME,
                "parallelism": {"tensor": ctx["expected_gpus"], "pipeline": 1},
                "launcher": {
                    "type": "ray",
                    "waitTimeoutSeconds": ctx["wait_timeout_seconds"],
                    "pollIntervalSeconds": ctx["poll_interval_seconds"],
                    "watchdogGraceSeconds": ctx["watchdog_grace_seconds"],
                },
                "storage": {"type": "existing-pvc", "claimName": "weights"},
            }
        ],
    }


def render_scripts(ctx: dict, outdir: Path) -> dict[str, Path]:
    """head.sh, worker.sh and probe.sh exactly as the ConfigMap of a rendered stack holds them.

    The stack goes through the real program under Pulumi's mock monitor; the
    test then checks that the plan it produced is the one `ctx` describes.
    """
    project_dir = outdir / "project"
    (project_dir / "stacks").mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, project_dir / name)
    document = {"config": {f"vllm-fleet:{key}": value for key, value in stack_for(ctx).items()}}
    (project_dir / "stacks" / "Pulumi.raytest.yaml").write_text(yaml.safe_dump(document))
    render = render_stack(load_project(project_dir), "raytest")
    summary = render.outputs["models"][ctx["model_name"]]
    plan = (summary["pods"], summary["totalGpus"], summary["headGpus"], summary["workerGpus"])
    assert plan == (ctx["expected_nodes"], ctx["expected_gpus"], ctx["head_gpus"], ctx["worker_gpus"]), plan
    [config_map] = [o for o in render.objects() if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-entrypoints")]
    paths = {}
    for name in SCRIPTS:
        path = outdir / f"{name}.sh"
        path.write_text(config_map["data"][f"{name}.sh"])
        paths[name] = path
    return paths


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------
def wait_until(pred, timeout: float, what: str, interval: float = 0.2):
    """Poll pred() until truthy; return (seconds waited, value). Bounded."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        value = pred()
        if value:
            return time.monotonic() - start, value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def run(*cmd, check=True, timeout=30, **kw):
    return subprocess.run(list(cmd), check=check, timeout=timeout, capture_output=True, text=True, **kw)


def netns_unusable() -> str | None:
    if os.geteuid() != 0:
        return "needs root for ip netns / unshare"
    for command in ("ip", "unshare"):
        if not shutil.which(command):
            return f"{command} not installed"
    if not shutil.which("ray", path=str(PYTHON_BIN)):
        return f"ray CLI not found next to {sys.executable}"
    name = f"vfcheck{os.getpid()}"
    try:
        run("ip", "netns", "add", name)
        run("ip", "netns", "exec", name, "unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "true")
    except (subprocess.CalledProcessError, OSError) as e:
        return f"network/PID namespaces unusable here: {e}"
    finally:
        run("ip", "netns", "del", name, check=False)
    return None


class Network:
    """A bridge in its own namespace plus one namespace per host."""

    def __init__(self, tag: str):
        self.tag = tag
        self.switch = f"{tag}-sw"
        self.namespaces = [self.switch]
        run("ip", "netns", "add", self.switch)
        self._ns(self.switch, "ip", "link", "set", "lo", "up")
        for bridge in ("br0", "br1"):  # br0: the cluster network, br1: the secondary network
            self._ns(self.switch, "ip", "link", "add", bridge, "type", "bridge")
            self._ns(self.switch, "ip", "link", "set", bridge, "up")

    @staticmethod
    def _ns(ns, *cmd):
        return run("ip", "netns", "exec", ns, *cmd)

    def add_host(self, name: str, octet: int, cluster: bool = True) -> tuple[str, str]:
        """A namespace on the cluster network (its IP is returned) and on the secondary one."""
        ns = f"{self.tag}-{name}"
        run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        self._ns(ns, "ip", "link", "set", "lo", "up")
        if cluster:
            self._attach(ns, octet, "c", "br0", f"{SUBNET}.{octet}")
        self._attach(ns, octet, "n", "br1", f"{SECONDARY_SUBNET}.{octet}")
        return ns, f"{SUBNET if cluster else SECONDARY_SUBNET}.{octet}"

    def _attach(self, ns: str, octet: int, kind: str, bridge: str, ip: str):
        host_if, sw_if = f"{self.tag}{octet}{kind}h", f"{self.tag}{octet}{kind}s"
        run("ip", "link", "add", host_if, "netns", ns, "type", "veth", "peer", "name", sw_if, "netns", self.switch)
        self._ns(self.switch, "ip", "link", "set", sw_if, "master", bridge)
        self._ns(self.switch, "ip", "link", "set", sw_if, "up")
        self._ns(ns, "ip", "addr", "add", f"{ip}/24", "dev", host_if)
        self._ns(ns, "ip", "link", "set", host_if, "up")

    def close(self):
        for ns in reversed(self.namespaces):
            run("ip", "netns", "del", ns, check=False)
        self.namespaces = []


class Pod:
    """One pod: its netns, its scripts, a state dir (the emptyDir) and a
    supervisor thread that restarts the container when it exits (like
    Kubernetes, restartPolicy Always, no CrashLoopBackOff delay)."""

    def __init__(self, lab: "Lab", name: str, role: str, octet: int, ctx: dict, head_ip: str | None = None):
        self.name, self.role = name, role
        self.ns, self.ip = lab.net.add_host(name, octet)
        self.dir = lab.workdir / name
        self.scripts = render_scripts(ctx, self.dir / "etc")
        self.ctx = ctx
        self.log = self.dir / "pod.log"
        self.env = {
            "PATH": f"{PYTHON_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.dir / "home"),
            "LANG": "C.UTF-8",
            "POD_IP": self.ip,
            "VLLM_FLEET_HEAD_ADDRESS": head_ip or self.ip,
            "VLLM_FLEET_VLLM_BIN": str(FAKE_VLLM),
            "VLLM_FLEET_STATE_DIR": str(self.dir / "state"),
            "FAKE_VLLM_LOAD_SECONDS": str(STAND_IN_LOAD_SECONDS),
        }
        for d in ("home", "ray"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.starts: list[float] = []
        self.exits: list[tuple[float, int]] = []
        self._cv = threading.Condition()
        self._stopping = False
        self._held = False
        self._hold_next = False
        self._thread: threading.Thread | None = None

    # -- container lifecycle ---------------------------------------------------
    def start(self):
        assert self._thread is None, f"{self.name} already supervised"
        self._thread = threading.Thread(target=self._supervise, name=f"pod-{self.name}", daemon=True)
        self._thread.start()
        wait_until(lambda: self.starts, 10, f"{self.name} to start")

    def _spawn(self) -> subprocess.Popen:
        with open(self.log, "ab") as f:
            f.write(f"=== harness: container start {len(self.starts) + 1} at {time.time():.3f} ===\n".encode())
            f.flush()
            return subprocess.Popen(
                ["ip", "netns", "exec", self.ns, "unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                 "sh", "-c", 'mount --bind "$1" /tmp/ray && exec bash "$2"', "sh",
                 str(self.dir / "ray"), str(self.scripts[self.role])],
                env=self.env, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _supervise(self):
        # Runs until stop(); stop() kills the container, so proc.wait() returns.
        while True:
            with self._cv:
                while self._held and not self._stopping:
                    self._cv.wait(0.2)
                if self._stopping:
                    return
                self.proc = self._spawn()
                self.starts.append(time.monotonic())
                self._cv.notify_all()
            rc = self.proc.wait()
            with self._cv:
                self.exits.append((time.monotonic(), rc))
                with open(self.log, "ab") as f:
                    f.write(f"=== harness: container exited rc={rc} ===\n".encode())
                if self._hold_next:
                    self._held, self._hold_next = True, False
                self._cv.notify_all()

    def kill(self):
        """The container dies (SIGKILL to its PID 1; the PID namespace goes with it)."""
        proc = self.proc
        if proc and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def terminate(self):
        """SIGTERM to the container's PID 1 (the script), as the kubelet does on
        pod deletion or node drain."""
        pid1 = self.container_pid1()
        if pid1:
            os.kill(pid1, signal.SIGTERM)

    def container_pid1(self) -> int | None:
        """Host-namespace PID of the script (PID 1 inside the container)."""
        if not self.proc:
            return None
        for st in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int(st.read_text().rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    return int(st.parent.name)
        return None

    def hold_restarts(self):
        """Do not restart after the next exit until release() (pod pending)."""
        with self._cv:
            self._hold_next = True

    def release(self):
        with self._cv:
            self._held = self._hold_next = False
            self._cv.notify_all()

    def stop(self):
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        self.kill()
        if self.proc:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=20)
        if self._thread:
            self._thread.join(timeout=20)

    def wait_exit(self, after: int, timeout: float) -> tuple[float, int]:
        """Wait until more than `after` exits happened; return that exit (time, rc)."""
        wait_until(lambda: len(self.exits) > after, timeout, f"{self.name} container to exit")
        return self.exits[after]

    def running(self) -> bool:
        return bool(self.proc and self.proc.poll() is None)

    # -- observation -------------------------------------------------------------
    def probe(self, kind: str) -> tuple[bool, str]:
        try:
            r = run("ip", "netns", "exec", self.ns, "bash", str(self.scripts["probe"]), self.role, kind,
                    check=False, timeout=15, env=self.env)
        except subprocess.TimeoutExpired:
            return False, "probe timed out"
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def ready(self) -> bool:
        return self.probe("readiness")[0]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def http_get(self, host: str, port: int, path: str) -> tuple[int | None, str]:
        """GET from inside this pod's network namespace."""
        code = (
            "import sys, urllib.request\n"
            "try:\n"
            f"    r = urllib.request.urlopen('http://{host}:{port}{path}', timeout=3)\n"
            "    print(r.status); print(r.read().decode())\n"
            "except Exception as e:\n"
            "    print('ERR'); print(e)\n"
        )
        r = run("ip", "netns", "exec", self.ns, sys.executable, "-c", code, check=False, timeout=15)
        status, _, body = r.stdout.partition("\n")
        return (int(status) if status.isdigit() else None), body.strip()

    def descendant_pids(self, needle: str) -> list[int]:
        """PIDs (host namespace) below this container whose cmdline contains needle."""
        if not self.proc:
            return []
        children: dict[int, list[int]] = {}
        for st in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int(st.parent.name)
                ppid = int(st.read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(pid)
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            for c in children.get(pid, []):
                todo.append(c)
                with contextlib.suppress(OSError):
                    if needle in (Path(f"/proc/{c}/cmdline").read_bytes().replace(b"\0", b" ").decode()):
                        found.append(c)
        return found


class Lab:
    def __init__(self, ctx: dict | None = None):
        self.tag = f"vf{os.getpid() % 100000}"
        self.workdir = Path(tempfile.mkdtemp(prefix="vf", dir="/tmp"))
        os.makedirs("/tmp/ray", exist_ok=True)  # mount point for each pod's private Ray temp dir
        self.net = Network(self.tag)
        self.pods: list[Pod] = []
        self.ctx = ctx or build_context()
        self.head = self.add_pod("head", "head", HEAD_OCTET, self.ctx)
        self.worker = self.add_pod("worker", "worker", WORKER_OCTET, self.ctx, head_ip=self.head.ip)

    def add_pod(self, *args, **kw) -> Pod:
        pod = Pod(self, *args, **kw)
        self.pods.append(pod)
        return pod

    def close(self, keep_logs_in: Path | None = None):
        for pod in self.pods:
            with contextlib.suppress(Exception):
                pod.stop()
        self.net.close()
        if keep_logs_in is not None:
            keep_logs_in.mkdir(parents=True, exist_ok=True)
            for pod in self.pods:
                if pod.log.exists():
                    shutil.copy(pod.log, keep_logs_in / f"{pod.name}.log")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def group_ready(self) -> bool:
        return self.head.ready() and self.worker.ready()

    def ensure_group_ready(self, timeout: float = 240) -> float:
        for pod in (self.head, self.worker):
            pod.release()
            if pod._thread is None:
                pod.start()
        return wait_until(self.group_ready, timeout, "head and worker ready")[0]

    def dump_logs(self, tail: int = 60) -> str:
        out = []
        for pod in self.pods:
            lines = pod.log_text().splitlines()[-tail:]
            out.append(f"----- {pod.name} ({pod.ip}) last {len(lines)} lines -----")
            out.extend(lines)
        return "\n".join(out)


@contextlib.contextmanager
def open_lab(keep_logs_in: Path | None = None, ctx: dict | None = None):
    lab = Lab(ctx)
    try:
        yield lab
    finally:
        lab.close(keep_logs_in)


# ---------------------------------------------------------------------------
# Scenarios: shared by the tests below and benchmarks/ray_faults.py.  Each
# asserts its bounds and returns the measured seconds.
# ---------------------------------------------------------------------------
def grace(lab: Lab) -> int:
    return lab.ctx["watchdog_grace_seconds"]


def poll(lab: Lab) -> int:
    return lab.ctx["poll_interval_seconds"]


def scenario_group_formation(lab: Lab) -> dict:
    head, worker = lab.head, lab.worker
    head.start()
    wait_until(lambda: "waiting for group: 1/2 Ray nodes, 1/2 GPUs" in head.log_text(), 60,
               "head to report 1/2 Ray nodes, 1/2 GPUs")
    # Head alone, for several poll intervals: no server, not ready, not started.
    t_end = time.monotonic() + 3 * poll(lab) + 1
    while time.monotonic() < t_end:
        ok, why = head.probe("readiness")
        assert not ok, f"head ready without its worker: {why}"
        assert not head.probe("startup")[0], "startup probe passed without a server"
        status, _ = head.http_get(head.ip, 8000, "/health")
        assert status is None, "something answers on the API port before the group formed"
        assert "fake-vllm: serving" not in head.log_text(), "server started before the group formed"
        time.sleep(0.5)

    t_worker = time.monotonic()
    worker.start()
    wait_until(head.ready, 180, "head to be ready", interval=0)
    t_ready = time.time()  # wall clock, to compare with the stand-in's own timestamp
    # The stand-in logs the moment its port opened: from then on /health answers 200.
    t_health = float(re.search(r"fake-vllm: serving .* at (\d+\.\d+) argv=", head.log_text()).group(1))
    health_to_ready = t_ready - t_health
    wait_until(lab.group_ready, 30, "worker ready too")
    formed = time.monotonic() - t_worker
    log = head.log_text()
    assert log.index("group complete") < log.index("fake-vllm: serving"), "server started before group complete"
    assert re.search(r"group complete after \d+ s: 2/2 Ray nodes, 2/2 GPUs", log)
    # Every serve arg arrived intact, the hostile model name included.
    argv = json.loads(re.search(r"fake-vllm: serving .* argv=(\[.*\])", log).group(1))
    assert argv == ["serve", *lab.ctx["serve_args"]]
    status, body = worker.http_get(head.ip, 8000, "/v1/models")
    assert status == 200 and json.loads(body)["data"][0]["id"] == SERVED_NAME
    assert "start #1 of this pod's head container" in log
    assert head.probe("liveness")[0] and worker.probe("liveness")[0]
    return {"group formation (worker start -> group ready)": formed, "/health 200 -> head ready": health_to_ready}


def scenario_worker_death(lab: Lab) -> dict:
    head, worker = lab.head, lab.worker
    lab.ensure_group_ready()
    n_head_exits = len(head.exits)
    t0 = time.monotonic()
    worker.kill()  # the supervisor restarts it at once, like the kubelet
    unready, _ = wait_until(lambda: not head.ready(), 30, "head to become unready after worker death", 0.1)
    # One poll interval plus one group query (python3 importing ray: ~1 s, 2-3 s
    # on a 2-core box while the restarted worker starts Ray).
    bound = poll(lab) + 5
    assert unready <= bound, f"head unready only after {unready:.1f} s (bound {bound} s)"
    t_exit, rc = head.wait_exit(n_head_exits, grace(lab) + 30)
    exit_after = t_exit - t0
    assert rc == 11, f"head must exit 11 (group lost a member), got {rc}"
    assert grace(lab) <= exit_after <= grace(lab) + 2 * poll(lab) + 10, f"head exited {exit_after:.1f} s after worker death"
    assert "group degraded: lost node(s) for good" in head.log_text()
    lab.ensure_group_ready()
    t_ready = time.monotonic()
    assert "start #2 of this pod's head container" in head.log_text()
    return {
        "worker death -> head unready": unready,
        "worker death -> head exit": exit_after,
        "head exit -> group ready again": t_ready - t_exit,
        "worker death -> group ready again": t_ready - t0,
    }


def scenario_head_death_held(lab: Lab) -> dict:
    """The head dies and stays down for a while (pod rescheduling)."""
    head, worker = lab.head, lab.worker
    lab.ensure_group_ready()
    n_w = len(worker.exits)
    head.hold_restarts()
    t0 = time.monotonic()
    head.kill()
    unready, _ = wait_until(lambda: not worker.ready(), 30, "worker to become unready after head death", 0.1)
    t_exit, rc = worker.wait_exit(n_w, grace(lab) + 40)
    exit_after = t_exit - t0
    # 11: our head monitor gave up after the grace; 13: Ray's raylet gave up
    # first (its own GCS reconnect timeout is 60 s, a tie with the default grace).
    assert rc in (11, 13), f"worker must exit 11 or 13 (lost the head), got {rc}"
    assert exit_after >= min(grace(lab), 55), "worker gave up before the grace"
    bound = grace(lab) + 2 * poll(lab) + 12
    assert exit_after <= bound, f"worker exited {exit_after:.1f} s after head death (bound {bound} s)"
    # Restarted worker waits (bounded, logged) for the missing head ...
    wait_until(lambda: worker.log_text().count("waiting for the head's Ray GCS") > 0 and worker.running(), 30,
               "restarted worker to wait for the head")
    time.sleep(2 * poll(lab))
    assert worker.running() and not worker.ready()
    # ... and rejoins the new head.
    t_release = time.monotonic()
    head.release()
    wait_until(lab.group_ready, 240, "group to re-form around the new head")
    return {
        "head death -> worker unready": unready,
        "head death -> worker exit (head stays down)": exit_after,
        "head restart -> group re-formed": time.monotonic() - t_release,
    }


def scenario_head_death_immediate_restart(lab: Lab) -> dict:
    """The head container dies and the kubelet restarts it at once: the worker
    must not stay attached to the dead cluster (kuberay #1141)."""
    head, worker = lab.head, lab.worker
    lab.ensure_group_ready()
    n_w = len(worker.exits)
    t0 = time.monotonic()
    head.kill()
    t_exit, rc = worker.wait_exit(n_w, grace(lab) + 40)
    exit_after = t_exit - t0
    assert rc in (11, 13), f"worker must exit 11 (head gone/restarted) or 13 (raylet gave up), got {rc}"
    assert exit_after <= grace(lab) + 2 * poll(lab) + 12, f"worker exited {exit_after:.1f} s after head death"
    wait_until(lab.group_ready, 240, "group to re-form after immediate head restart")
    for pod in (head, worker):  # a restart loop must not pile up Ray session dirs
        sessions = [d for d in (pod.dir / "ray").glob("session_2*") if d.is_dir()]
        assert len(sessions) <= 3, f"{pod.name}: {len(sessions)} Ray session dirs kept"
    return {
        "head death -> worker exit (head restarted at once)": exit_after,
        "head death -> group re-formed (head restarted at once)": time.monotonic() - t0,
    }


def scenario_engine_exits_0_on_worker_loss(lab: Lab) -> dict:
    """vLLM 0.32 with the Ray executor exits with status 0 about a second after
    a Ray worker dies. The head must take that as a failure of the group: not
    ready at once, exit 12 (non-zero, so the kubelet restarts it), group re-forms."""
    head, worker = lab.head, lab.worker
    head.env["FAKE_VLLM_EXIT_ON_RAY_MEMBER_LOSS"] = "1"
    try:
        head.kill()  # the next head container runs the stand-in in this mode
        lab.ensure_group_ready()
        wait_until(lambda: "fake-vllm: watching 1 Ray worker node(s)" in head.log_text(), 20,
                   "stand-in to watch the Ray worker")
        n_head_exits = len(head.exits)
        t0 = time.monotonic()
        worker.kill()
        unready, _ = wait_until(lambda: not head.ready(), 30, "head to become unready after the engine exited", 0.1)
        t_exit, rc = head.wait_exit(n_head_exits, 30)
        log = head.log_text()
        assert rc == 12, f"head must exit 12 when vllm serve exits, got {rc}"
        assert "RayWorkerProc rank=[1] died unexpectedly" in log
        assert "vllm serve exited with status 0" in log
        # The engine exits about 1 s after the loss; the head follows at once, not after the grace.
        assert t_exit - t0 < grace(lab), f"head exited {t_exit - t0:.1f} s after the worker died: it waited for the grace"
        lab.ensure_group_ready()
        t_ready = time.monotonic()
    finally:
        head.env.pop("FAKE_VLLM_EXIT_ON_RAY_MEMBER_LOSS")
    return {
        "engine exits 0: worker death -> head unready": unready,
        "engine exits 0: worker death -> head exit": t_exit - t0,
        "engine exits 0: worker death -> group ready again": t_ready - t0,
    }


def listeners(pod: Pod) -> list[tuple[str, int]]:
    """(local address, port) of every listening TCP socket in the pod's network namespace."""
    out = run("ip", "netns", "exec", pod.ns, "ss", "-ltnH").stdout
    found = []
    for line in out.splitlines():
        address, _, port = line.split()[3].rpartition(":")
        found.append((address.strip("[]").removeprefix("::ffff:"), int(port)))
    return found


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    reason = netns_unusable()
    # CI and the README's `make test` run as root on a machine with iproute2:
    # a missing prerequisite is a failure to fix, never a silent skip.
    assert reason is None, f"the real-Ray group tests can't run: {reason}"
    logs = tmp_path_factory.mktemp("pod-logs")
    with open_lab(keep_logs_in=logs) as the_lab:
        yield the_lab
    print(f"\npod logs kept in {logs}")
    if TIMINGS:
        print("measured: " + ", ".join(f"{k}: {v:.1f} s" for k, v in TIMINGS.items()))


@pytest.fixture
def explain(lab, request):
    """On failure, show the tail of every pod log."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        print(lab.dump_logs())


def record(result: dict):
    TIMINGS.update(result)


def test_rendered_scripts_lint_clean(tmp_path):
    contexts = {
        "test": build_context(),
        "prod": build_context(model_name="llama-405b", expected_nodes=3, expected_gpus=24, head_gpus=8,
                              worker_gpus=8, wait_timeout_seconds=600, poll_interval_seconds=5,
                              watchdog_grace_seconds=60),
    }
    for label, ctx in contexts.items():
        paths = render_scripts(ctx, tmp_path / label)
        for p in paths.values():
            assert p.read_text().startswith("#!/usr/bin/env bash\n")
            assert "set -euo pipefail" in p.read_text()
            r = run("bash", "-n", str(p), check=False)
            assert r.returncode == 0, f"bash -n {p.name}: {r.stderr}"
        r = run(tool("shellcheck"), "-S", "style", *map(str, paths.values()), check=False)
        assert r.returncode == 0, r.stdout


def test_missing_context_variable_fails_render(tmp_path):
    ctx = build_context()
    del ctx["watchdog_grace_seconds"]
    with pytest.raises(jinja2.UndefinedError):
        render_templates(ctx, tmp_path)


def test_inconsistent_plan_fails_fast(tmp_path):
    paths = render_templates(build_context(expected_gpus=3), tmp_path)
    env = {"PATH": os.environ["PATH"], "POD_IP": "127.0.0.1", "VLLM_FLEET_STATE_DIR": str(tmp_path / "state")}
    r = run("bash", str(paths["head"]), check=False, env=env)
    assert r.returncode == 2
    assert "= 2 GPUs, but expected_gpus = 3" in r.stderr


def test_lonely_head_gives_up_naming_what_is_missing(lab, explain):
    ctx = build_context(wait_timeout_seconds=4)
    pod = lab.add_pod("lonehead", "head", LONE_HEAD_OCTET, ctx)
    pod.hold_restarts()
    pod.start()
    t_exit, rc = pod.wait_exit(0, 60)
    log = pod.log_text()
    pod.stop()
    assert rc == 10, log
    assert "waiting for group: 1/2 Ray nodes, 1/2 GPUs" in log
    assert "1 Ray node(s) missing, 1 GPU(s) missing" in log
    assert "Not starting vllm serve" in log
    assert "fake-vllm" not in log


def test_worker_restart_loop_is_visible_and_backs_off(lab, explain):
    # The head address points at this pod itself, where no GCS listens.
    ctx = build_context(wait_timeout_seconds=2)
    pod = lab.add_pod("lonewrk", "worker", LONE_WORKER_OCTET, ctx)
    pod.start()
    pod.wait_exit(3, 60)  # four starts: #1 immediately, then 1 s, 2 s, 4 s backoff
    pod.stop()
    log = pod.log_text()
    assert [rc for _, rc in pod.exits[:4]] == [10, 10, 10, 10], log
    for n in (1, 2, 3, 4):
        assert f"start #{n} of this pod's worker container" in log
    assert "backing off 1 s" in log and "backing off 2 s" in log and "backing off 4 s" in log
    assert "head not reachable within 2 s: no answer from the head's Ray GCS at" in log
    assert "Connection refused" in log


def test_group_forms_only_when_all_gpus_present(lab, explain):
    record(scenario_group_formation(lab))


def test_liveness_catches_hung_server_not_the_watchdog(lab, explain):
    lab.ensure_group_ready()
    head = lab.head
    pids = head.descendant_pids("fake_vllm.py")
    assert len(pids) == 1, pids
    n_exits = len(head.exits)
    os.kill(pids[0], signal.SIGSTOP)  # a hung engine: port open, no answers
    try:
        ok, why = head.probe("liveness")
        assert not ok and "no HTTP answer" in why, why
        assert not head.probe("readiness")[0]
        assert not head.probe("ready")[0] and not head.probe("live")[0]  # short spellings
        time.sleep(grace(lab) + 2 * poll(lab))
        assert len(head.exits) == n_exits, "watchdog must leave a slow/hung server to the probes"
    finally:
        os.kill(pids[0], signal.SIGCONT)
    wait_until(lambda: head.probe("liveness")[0] and head.ready(), 20, "head live and ready again")


def test_sigterm_drain_is_graceful(lab, explain):
    """Node drain / pod deletion: SIGTERM to PID 1. The worker leaves Ray and
    exits 143 at once; the head turns unready, then (SIGTERM) stops the server
    and exits 143."""
    head, worker = lab.head, lab.worker
    lab.ensure_group_ready()
    n_w, n_h = len(worker.exits), len(head.exits)
    worker.hold_restarts()
    t0 = time.monotonic()
    worker.terminate()
    t_exit, rc = worker.wait_exit(n_w, 30)
    assert rc == 143, rc
    assert t_exit - t0 <= 20, f"worker took {t_exit - t0:.1f} s to leave"
    wait_until(lambda: not head.ready(), poll(lab) + 5, "head unready after the worker drained")
    head.hold_restarts()
    t1 = time.monotonic()
    head.terminate()
    t_exit, rc = head.wait_exit(n_h, 30)
    assert rc == 143, rc
    assert t_exit - t1 <= 20
    assert "fake-vllm: signal 15" in head.log_text(), "server must get SIGTERM"
    head.release()
    worker.release()
    lab.ensure_group_ready()


def test_worker_death_makes_head_unready_then_group_reforms(lab, explain):
    record(scenario_worker_death(lab))


def test_head_death_makes_worker_exit_and_rejoin_new_head(lab, explain):
    record(scenario_head_death_held(lab))


def test_head_immediate_restart_worker_rejoins(lab, explain):
    record(scenario_head_death_immediate_restart(lab))


def test_engine_exit_0_fails_the_group(lab, explain):
    record(scenario_engine_exits_0_on_worker_loss(lab))


# What Ray 2.60 cannot bind to the node IP: its core gRPC servers bind the
# wildcard of the node IP's family (GCS, raylet's node and object managers, and
# each core worker in the worker port range). Everything else must be bound to
# the pod's cluster address or loopback.
WILDCARD_BY_RAY = {RAY_PORTS["gcs"], RAY_PORTS["node_manager"], RAY_PORTS["object_manager"],
                   *range(RAY_PORTS["min_worker"], RAY_PORTS["max_worker"] + 1)}
API_PORT = 8000  # vLLM's --host 0.0.0.0: kubectl port-forward and the kubelet need more than the pod IP


def test_nothing_else_listens_on_the_secondary_network(lab, explain):
    lab.ensure_group_ready()
    for pod in (lab.head, lab.worker):
        seen = listeners(pod)
        assert any(port == RAY_PORTS["node_manager"] for _, port in seen), seen  # the check sees Ray at all
        for address, port in seen:
            if address in (pod.ip, "127.0.0.1", "::1"):
                continue
            assert address in ("*", "0.0.0.0", "::"), f"{pod.name}: listener on {address}:{port}, not the cluster address"
            allowed = WILDCARD_BY_RAY | ({API_PORT} if pod is lab.head else set())
            assert port in allowed, f"{pod.name}: port {port} listens on every interface (secondary network included)"
    # From a host on the secondary network only: exactly the wildcard listeners answer.
    foreign_ns, _ = lab.net.add_host("foreign", FOREIGN_OCTET, cluster=False)
    head_secondary = f"{SECONDARY_SUBNET}.{HEAD_OCTET}"
    head_ports = {port for _, port in listeners(lab.head)}
    for port in sorted(head_ports):
        code = f"import socket; socket.create_connection(('{head_secondary}', {port}), timeout=2).close()"
        reached = run("ip", "netns", "exec", foreign_ns, sys.executable, "-c", code, check=False).returncode == 0
        expected = port in WILDCARD_BY_RAY | {API_PORT}
        assert reached == expected, f"port {port} on the head's secondary interface: reached={reached}"
