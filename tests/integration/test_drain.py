"""Drain with the stand-in server: a replica that goes finishes its in-flight requests, new ones go to the other.

Two replicas of a single-pod model run the rendered entrypoint (`head.sh`, which
execs `vllm serve`) with the stand-in (fake_vllm.py, which implements vLLM's
--shutdown-timeout) in a network namespace each. The test plays the kubelet and
the endpoints: replica A leaves the endpoint list, its preStop (`drain.sh head`)
runs, then SIGTERM goes to the container's process. A long streamed completion
on A must complete while new requests are served by B, and a worker's preStop
(`drain.sh worker`, pointed at A) must hold until A has stopped serving. With
vLLM's default (--shutdown-timeout 0) the same stream is cut: the check can fail.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from ..dataplane_support import config, model, plan
from .test_ray_group import FAKE_VLLM, PYTHON_BIN, SUBNET, Network, run, wait_until

API_PORT = 8000
TOKENS, TOKEN_SECONDS = 30, 0.2  # a 6 s stream
HOST_OCTET = 250


def _scripts(timeout_seconds: int, workdir: Path) -> Path:
    planned = plan(config(model(
        name="drain", parallelism={"tensor": 1}, replicas=2,
        drain={"timeoutSeconds": timeout_seconds, "endpointDelaySeconds": 1},
    )))
    assert f"--shutdown-timeout {timeout_seconds}" in " ".join(planned.serve_args)
    scripts = workdir / "etc"
    scripts.mkdir()
    for name, text in planned.entrypoints.scripts.items():
        (scripts / name).write_text(text)
    return scripts


class Replica:
    """One API pod: the rendered head.sh in its own network namespace, stand-in vLLM behind it."""

    def __init__(self, ns: str, ip: str, scripts: Path, log: Path):
        self.ns, self.ip, self.scripts, self.log = ns, ip, scripts, log
        env = {
            "PATH": f"{PYTHON_BIN}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
            "VLLM_FLEET_VLLM_BIN": str(FAKE_VLLM), "FAKE_VLLM_TOKEN_SECONDS": str(TOKEN_SECONDS),
        }
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, "bash", str(scripts / "head.sh")],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def pre_stop(self, role: str, head: str = "") -> subprocess.Popen:
        env = {"PATH": "/usr/bin:/bin", "VLLM_FLEET_HEAD_ADDRESS": head}
        return subprocess.Popen(["ip", "netns", "exec", self.ns, "bash", str(self.scripts / "drain.sh"), role], env=env)

    def healthy(self) -> bool:
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection(self.ip, API_PORT, timeout=2)
            connection.request("GET", "/health")
            return connection.getresponse().status == 200
        return False

    def stop(self):
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


def complete(ip: str, tokens: int, events: list | None = None) -> tuple[int, list[str]]:
    """One streamed completion: (HTTP status, the events received, `[DONE]` last if it finished)."""
    events = [] if events is None else events
    connection = http.client.HTTPConnection(ip, API_PORT, timeout=30)
    connection.request("POST", "/v1/completions", json.dumps({"prompt": "p", "max_tokens": tokens, "stream": True}),
                       {"Content-Type": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        return response.status, events
    with contextlib.suppress(OSError, http.client.HTTPException):
        for line in response:
            if line.startswith(b"data: "):
                events.append(line[6:].strip().decode())
    return response.status, events


@contextlib.contextmanager
def two_replicas(timeout_seconds: int):
    workdir = Path(tempfile.mkdtemp(prefix="vfdrain", dir="/tmp"))
    net, replicas = Network("vfd"), []
    try:
        # A leg from this (the test's) namespace onto the cluster bridge: the test is the gateway.
        run("ip", "link", "add", "vfdh", "type", "veth", "peer", "name", "vfds", "netns", net.switch)
        net._ns(net.switch, "ip", "link", "set", "vfds", "master", "br0")
        net._ns(net.switch, "ip", "link", "set", "vfds", "up")
        run("ip", "addr", "add", f"{SUBNET}.{HOST_OCTET}/24", "dev", "vfdh")
        run("ip", "link", "set", "vfdh", "up")
        scripts = _scripts(timeout_seconds, workdir)
        for name, octet in (("a", 21), ("b", 22)):
            ns, ip = net.add_host(name, octet)
            replicas.append(Replica(ns, ip, scripts, workdir / f"{name}.log"))
        for replica in replicas:
            wait_until(replica.healthy, 60, f"replica {replica.ip} serving")
        yield replicas
    finally:
        for replica in replicas:
            replica.stop()
        run("ip", "link", "del", "vfdh", check=False)
        net.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _terminate(replica: Replica, endpoints: list[Replica]) -> threading.Thread:
    """What the kubelet and the endpoints controller do: out of the endpoints, preStop, then SIGTERM."""
    endpoints.remove(replica)

    def kubelet():
        replica.pre_stop("head").wait(timeout=30)
        replica.proc.send_signal(signal.SIGTERM)  # bash exec'd vllm serve: the container's process

    thread = threading.Thread(target=kubelet)
    thread.start()
    return thread


def test_a_draining_replica_finishes_its_stream_while_new_requests_go_to_the_other():
    with two_replicas(timeout_seconds=30) as (a, b):
        endpoints = [a, b]
        events: list[str] = []
        stream = threading.Thread(target=complete, args=(a.ip, TOKENS, events))
        stream.start()
        wait_until(lambda: len(events) >= 3, 10, "the stream on A started")
        worker = a.pre_stop("worker", head=a.ip)
        kubelet = _terminate(a, endpoints)
        # New requests, sent to whatever the endpoints hold while A drains, all finish.
        for _ in range(3):
            status, served = complete(endpoints[0].ip, 3)
            assert status == 200 and served[-1] == "[DONE]"
        assert endpoints == [b]
        assert worker.poll() is None, "the worker's preStop returned while its head was still serving"
        stream.join(timeout=30)
        kubelet.join(timeout=30)
        assert events[-1] == "[DONE]" and len(events) == TOKENS + 1, events
        assert a.proc.wait(timeout=30) == 0
        assert worker.wait(timeout=15) == 0
        assert b.proc.poll() is None and b.healthy()


def test_without_a_shutdown_timeout_the_stream_is_cut():
    with two_replicas(timeout_seconds=0) as (a, b):
        events: list[str] = []
        stream = threading.Thread(target=complete, args=(a.ip, TOKENS, events))
        stream.start()
        wait_until(lambda: len(events) >= 3, 10, "the stream on A started")
        _terminate(a, [a, b]).join(timeout=30)
        stream.join(timeout=30)
        assert events and events[-1] != "[DONE]" and len(events) < TOKENS
        assert a.proc.wait(timeout=30) == 0
