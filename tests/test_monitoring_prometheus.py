"""The scrape's relabelings in a real Prometheus: the series it stores carry stack, model, group and role.

There is no cluster, so pod discovery is stood in for by static targets that
carry the `__meta_kubernetes_pod_*` labels Kubernetes discovery would attach; the
endpoints' relabelings (as the Prometheus Operator passes them on) then run in
Prometheus itself, which scrapes stand-in vLLM and Ray metrics servers.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from vllm_fleet.builtin.monitoring import MonitoringAddon, MonitoringSettings
from vllm_fleet.constants import RAY_PORTS

from .dataplane_support import config, model, plan

PROMETHEUS = "prometheus"
WAIT_SECONDS = 60


def _three_groups():
    """Three Ray groups of a head and two workers (TP=8 × PP=3 on 8-GPU nodes): worker ordinal k is in group k // 2."""
    return plan(config(model(parallelism={"tensor": 8, "pipeline": 3}, replicas=3)))


def _metrics_server(body: str) -> ThreadingHTTPServer:
    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            payload = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _snake(relabeling: dict) -> dict:
    """An operator RelabelConfig as Prometheus's relabel_config (the operator only renames the keys)."""
    names = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    return {names.get(key, key): value for key, value in relabeling.items()}


def _pod(component: str, ip: str, ordinal: int | None) -> dict[str, str]:
    """Discovery labels of a StatefulSet pod (its controller sets the pod-index label)."""
    labels = {
        "__meta_kubernetes_pod_label_app_kubernetes_io_instance": "llm",
        "__meta_kubernetes_pod_label_app_kubernetes_io_component": component,
        "__meta_kubernetes_pod_container_name": "vllm",
        "__meta_kubernetes_pod_container_init": "false",
        "__meta_kubernetes_pod_ip": ip,
    }
    if ordinal is not None:
        labels["__meta_kubernetes_pod_label_apps_kubernetes_io_pod_index"] = str(ordinal)
    return labels


def _config(vllm_port: int, ray_port: int) -> dict:
    monitor = MonitoringAddon().objects(MonitoringSettings(stack="prod"), _three_groups())[0]
    vllm, ray = monitor.body["spec"]["podMetricsEndpoints"]
    # The Ray endpoint points targets at the fixed Ray port; here the stand-in listens elsewhere.
    ray_relabelings = [
        {**r, "replacement": r["replacement"].replace(f":{RAY_PORTS['metrics_export']}", f":{ray_port}")} if r.get("targetLabel") == "__address__" else r
        for r in ray["relabelings"]
    ]
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "vllm", "static_configs": [{"targets": [f"127.0.0.1:{vllm_port}"], "labels": _pod("head", "127.0.0.1", 1)}],
             "relabel_configs": [_snake(r) for r in vllm["relabelings"]]},
            {"job_name": "ray", "static_configs": [
                {"targets": ["127.0.0.1"], "labels": _pod("head", "127.0.0.1", None)},
                {"targets": ["127.0.0.1"], "labels": _pod("worker", "127.0.0.1", 5)},
                {"targets": ["127.0.0.1"], "labels": {**_pod("worker", "127.0.0.1", None), "__meta_kubernetes_pod_container_name": "wait-for-weights",
                                                      "__meta_kubernetes_pod_container_init": "true"}},
            ], "relabel_configs": [_snake(r) for r in ray_relabelings]},
        ],
    }


def _query(port: int, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.request.quote(expr)}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())["data"]["result"]


@pytest.fixture
def prometheus(tmp_path: Path):
    vllm = _metrics_server('vllm:num_requests_waiting{model_name="org/llm",engine="0"} 3\n')
    ray = _metrics_server('ray_node_cpu_count{ip="127.0.0.1"} 16\n')
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(_config(vllm.server_address[1], ray.server_address[1])))
    checked = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    port = _free_port()
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"),
    )
    try:
        yield port, tmp_path / "prometheus.log"
    finally:
        process.terminate()
        process.wait(timeout=30)
        vllm.shutdown()
        ray.shutdown()


def _wait_for(port: int, expr: str, log: Path) -> list[dict]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            found = _query(port, expr)
        except OSError:
            found = []
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no {expr} after {WAIT_SECONDS} s; Prometheus log:\n{log.read_text()[-3000:]}")


def test_scraped_series_carry_stack_model_group_and_role(prometheus):
    port, log = prometheus
    (waiting,) = _wait_for(port, "vllm:num_requests_waiting", log)
    labels = waiting["metric"]
    assert {k: labels.get(k) for k in ("stack", "model", "group", "role", "model_name")} == {
        "stack": "prod", "model": "llm", "group": "1", "role": "head", "model_name": "org/llm",
    }
    assert waiting["value"][1] == "3"


def test_ray_targets_are_the_member_containers_on_the_metrics_port_without_empty_labels(prometheus):
    port, log = prometheus
    _wait_for(port, "count(ray_node_cpu_count) == 2", log)
    series = {s["metric"]["role"]: s["metric"] for s in _query(port, "ray_node_cpu_count")}
    assert set(series) == {"head", "worker"}
    head, worker = series["head"], series["worker"]
    assert head["endpoint"] == "ray-metrics" and head["model"] == "llm"
    assert "group" not in head, "a pod without the pod-index label gets no empty group label"
    assert worker["group"] == "2", "worker ordinal 5 with two workers per group is in group 2"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", head["instance"])
    # The init container's target was dropped: two Ray targets, up.
    assert [r["value"][1] for r in _query(port, 'up{job="ray"}')] == ["1", "1"]
