"""Helpers for the monitoring tests: plans, full objects, and promtool unit tests built from the thresholds.

The promtool cases are generated from the same `MonitoringSettings` the rules
are rendered from: each alert gets synthetic series just past its threshold
(and held just longer than its `for`), which must fire, and series just short
of it (or held just shorter), which must not.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import yaml

from vllm_fleet.builtin.monitoring import ALERTS, MonitoringSettings, alert_rules, duration_seconds, prometheus_label_name
from vllm_fleet.plan import ModelPlan
from vllm_fleet.plugins.types import ObjectSpec

from .dataplane_support import ALLUXIO, PROJECT, config, model, plan

PROMTOOL = "promtool"
STEP_SECONDS = 60
# The workplace's checker of custom resources against the upstream CRDs (beside the checkout, or shared).
VALIDATE_CRS = next(
    (path for path in (PROJECT.parent / "shared" / "tools" / "validate_crs.py", Path("/work/shared/tools/validate_crs.py")) if path.exists()),
    PROJECT.parent / "shared" / "tools" / "validate_crs.py",
)
#: The Kubernetes version kubernetes-validate checks core objects against.
K8S_VERSION = "1.33"


def validate_crs(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    """validate_crs.py on every YAML document under `folder` (`extra`: its options, e.g. `--schemas DIR`)."""
    return subprocess.run([sys.executable, str(VALIDATE_CRS), *extra, str(folder)], capture_output=True, text=True, timeout=120)


def ray_plan_with_fetch_and_cache() -> ModelPlan:
    """A two-pod Ray group (TP=16 on 8-GPU nodes) whose weights are fetched by a Job and warmed by Fluid."""
    return plan(config(model(storage={"type": "huggingface", "size": "100Gi", "token": False}, cache=ALLUXIO)))


def full_object(spec: ObjectSpec, namespace: str) -> dict[str, Any]:
    """An ObjectSpec as the component would submit it (namespace and metadata filled)."""
    metadata: dict[str, Any] = {"name": spec.name, "labels": dict(spec.labels)}
    if spec.namespaced:
        metadata["namespace"] = namespace
    if spec.annotations:
        metadata["annotations"] = dict(spec.annotations)
    return {"apiVersion": spec.api_version, "kind": spec.kind, "metadata": metadata, **spec.body}


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def rule_file(groups: list[dict[str, Any]], path: Path, strip_annotations: bool = False) -> Path:
    """A Prometheus rule file of the given groups (optionally without annotations, for unit tests of the logic)."""
    if strip_annotations:
        groups = [{**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]} for g in groups]
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def expressions_file(expressions: Iterable[str], path: Path) -> Path:
    """Every expression as a recording rule, so `promtool check rules` parses each one."""
    rules = [{"record": f"check:expression_{i}", "expr": expr} for i, expr in enumerate(expressions)]
    return rule_file([{"name": "expressions", "rules": rules}], path)


# ------------------------------------------------------------ series helpers


def _minutes(duration: str) -> int:
    return max(1, duration_seconds(duration) // STEP_SECONDS)


def _values(*segments: tuple[float, int]) -> str:
    """'v v v ...': each (value, count) segment repeated count times, one sample a minute."""
    return " ".join(f"{value:g}" for value, count in segments for _ in range(count))


def _counter(rate_per_minute: float, minutes: int, start: float = 0) -> str:
    return " ".join(f"{start + rate_per_minute * i:g}" for i in range(minutes))


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    rendered = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{rendered}}}", "values": values}


class Cases:
    """promtool `tests:` entries for one model and its settings."""

    def __init__(self, settings: MonitoringSettings, planned: ModelPlan):
        self.s, self.plan = settings, planned
        self.ns, self.model = planned.namespace, planned.name
        self.vllm = {"namespace": self.ns, "model": self.model, "model_name": planned.served_model_name, "engine": "0"}
        self.base = {"severity": "warning", "model": self.model, "namespace": self.ns}

    def case(self, alert: str, series: list[dict], at_minute: int, expected: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [{"eval_time": f"{at_minute}m", "alertname": alert,
                                 "exp_alerts": [{"exp_labels": labels} for labels in expected]}],
        }

    # -- group health (kube-state-metrics)
    def _group(self, head_ready: int, worker_pod_ready: int, minutes: int) -> list[dict]:
        gpu = prometheus_label_name(self.plan.node_pool.gpu_resource)
        pods = [(f"{self.plan.names.head}-0", self.plan.gpus.head_gpus, head_ready)]
        pods += [(f"{self.plan.names.worker}-{i}", self.plan.gpus.worker_gpus, worker_pod_ready) for i in range(self.plan.gpus.workers)]
        series = [_series("kube_statefulset_status_replicas_ready", {"namespace": self.ns, "statefulset": self.plan.names.head},
                          _values((head_ready, minutes)))]
        for pod, gpus, ready in pods:
            labels = {"namespace": self.ns, "pod": pod}
            series.append(_series("kube_pod_container_resource_requests",
                                  {**labels, "container": "vllm", "resource": gpu, "unit": "integer"}, _values((gpus, minutes))))
            series.append(_series("kube_pod_status_ready", {**labels, "condition": "true"}, _values((ready, minutes))))
        return series

    def not_serving(self) -> list[dict]:
        hold = _minutes(self.s.not_serving.for_)
        critical = {**self.base, "severity": "critical"}
        head = {**critical, "reason": "the head pod is not ready"}
        gpus = {**critical, "reason": f"fewer ready GPUs than the {self.plan.gpus.total_gpus} planned"}
        # Unready for one minute less than `for`, then ready: must stay quiet.
        first, then = self._group(0, 1, hold - 1), self._group(1, 1, hold + 5)
        short = [{"series": a["series"], "values": f"{a['values']} {b['values']}"} for a, b in zip(first, then)]
        return [
            self.case("VllmGroupNotServing", self._group(0, 0, hold + 5), hold + 2, [head]),
            self.case("VllmGroupNotServing", self._group(1, 0, hold + 5), hold + 2, [gpus]),
            self.case("VllmGroupNotServing", self._group(1, 1, hold + 5), hold + 2, []),
            self.case("VllmGroupNotServing", short, hold + 2, []),
        ]

    def restart_loop(self) -> list[dict]:
        window, restarts = _minutes(self.s.restart_loop.window), self.s.restart_loop.restarts
        labels = {"namespace": self.ns, "pod": f"{self.plan.names.head}-0", "container": "vllm"}
        history = window * 2

        def restarting(count: int) -> list[dict]:
            # Steady for a window, then `count` restarts spread over half a window.
            spacing = max(1, window // (2 * count)) if count else 1
            values = [0.0] * window + [min(count, i // spacing + 1) if count else 0 for i in range(history)]
            return [_series("kube_pod_container_status_restarts_total", labels, " ".join(f"{v:g}" for v in values))]

        at = window + window // 2 + 1
        fired = {**self.base, "pod": labels["pod"]}
        return [
            self.case("VllmRestartLoop", restarting(restarts), at, [fired]),
            self.case("VllmRestartLoop", restarting(restarts - 1), at, []),
        ]

    def requests_waiting(self) -> list[dict]:
        hold, threshold = _minutes(self.s.requests_waiting.for_), self.s.requests_waiting.threshold
        waiting = lambda values: [_series("vllm:num_requests_waiting", self.vllm, values)]  # noqa: E731
        return [
            self.case("VllmRequestsWaiting", waiting(_values((threshold + 1, hold + 5))), hold + 2, [self.base]),
            self.case("VllmRequestsWaiting", waiting(_values((threshold, hold + 5))), hold + 2, []),
            self.case("VllmRequestsWaiting", waiting(_values((threshold + 1, hold - 1), (0, 8))), hold + 2, []),
        ]

    def kv_cache(self) -> list[dict]:
        hold, threshold = _minutes(self.s.kv_cache_usage.for_), self.s.kv_cache_usage.threshold
        labels = {**self.vllm, "pod": f"{self.plan.names.head}-0"}
        usage = lambda value: [_series("vllm:kv_cache_usage_perc", labels, _values((value, hold + 5)))]  # noqa: E731
        return [
            self.case("VllmKvCacheNearlyFull", usage((1 + threshold) / 2), hold + 2, [{**self.base, "pod": labels["pod"]}]),
            self.case("VllmKvCacheNearlyFull", usage(threshold * 0.9), hold + 2, []),
        ]

    def _histogram(self, metric: str, objective: float, slow: bool, minutes: int) -> list[dict]:
        """Observations all in (objective/2, 2*objective] when slow (every quantile > objective), else all <= objective/2."""
        buckets = [(f"{objective / 2:g}", 0 if slow else 10), (f"{objective * 2:g}", 10), ("+Inf", 10)]
        return [_series(f"{metric}_bucket", {**self.vllm, "le": le}, _counter(rate, minutes)) for le, rate in buckets]

    def latency(self, alert: str, metric: str, objective_settings) -> list[dict]:
        hold = _minutes(objective_settings.for_) + _minutes(self.s.rate_window)
        seconds = objective_settings.seconds
        return [
            self.case(alert, self._histogram(metric, seconds, True, hold + 5), hold + 2, [self.base]),
            self.case(alert, self._histogram(metric, seconds, False, hold + 5), hold + 2, []),
        ]

    def error_rate(self) -> list[dict]:
        hold, ratio = _minutes(self.s.error_rate.for_) + _minutes(self.s.rate_window), self.s.error_rate.ratio

        def finished(error_share: float) -> list[dict]:
            return [
                _series("vllm:request_success_total", {**self.vllm, "finished_reason": "error"}, _counter(100 * error_share, hold + 5)),
                _series("vllm:request_success_total", {**self.vllm, "finished_reason": "stop"}, _counter(100 * (1 - error_share), hold + 5)),
            ]

        return [
            self.case("VllmErrorRateHigh", finished(min(0.99, ratio * 2)), hold + 2, [self.base]),
            self.case("VllmErrorRateHigh", finished(ratio / 2), hold + 2, []),
        ]

    def fetch_failed(self) -> list[dict]:
        job = {"namespace": self.ns, "job_name": self.plan.names.fetch}
        fired = {**self.base, "severity": "critical", "job_name": job["job_name"]}

        def job_state(failed_condition: int, failed_pods: int) -> list[dict]:
            return [
                _series("kube_job_failed", {**job, "condition": "true"}, _values((failed_condition, 10))),
                _series("kube_job_status_failed", {**job, "reason": ""}, _values((failed_pods, 10))),
            ]

        return [
            self.case("VllmWeightsFetchFailed", job_state(1, 0), 5, [fired]),
            self.case("VllmWeightsFetchFailed", job_state(0, 1), 5, [fired]),
            self.case("VllmWeightsFetchFailed", job_state(0, 0), 5, []),
        ]

    def cache_not_warmed(self) -> list[dict]:
        deadline = _minutes(self.s.cache_warmup.deadline)
        job = {"namespace": self.ns, "job_name": f"{self.plan.cache.loads[0].name}-loader-job"}
        minutes = deadline + 10

        def warmup(failed: int, succeeded: int) -> list[dict]:
            return [
                _series("kube_job_created", job, _values((0, minutes))),  # created at time 0
                _series("kube_job_failed", {**job, "condition": "true"}, _values((failed, minutes))),
                _series("kube_job_failed", {**job, "condition": "false"}, _values((1 - failed, minutes))),
                _series("kube_job_status_succeeded", job, _values((succeeded, minutes))),
            ]

        late = {**self.base, "job_name": job["job_name"], "reason": f"the warm-up has not succeeded {self.s.cache_warmup.deadline} after it started"}
        failed = {**self.base, "job_name": job["job_name"], "reason": "the warm-up Job failed"}
        return [
            self.case("VllmCacheNotWarmed", warmup(0, 0), deadline + 2, [late]),
            self.case("VllmCacheNotWarmed", warmup(1, 0), 5, [failed]),
            self.case("VllmCacheNotWarmed", warmup(0, 0), deadline - 2, []),
            self.case("VllmCacheNotWarmed", warmup(0, 1), deadline + 2, []),
        ]

    def by_alert(self) -> dict[str, list[dict]]:
        return {
            "VllmGroupNotServing": self.not_serving(),
            "VllmRestartLoop": self.restart_loop(),
            "VllmRequestsWaiting": self.requests_waiting(),
            "VllmKvCacheNearlyFull": self.kv_cache(),
            "VllmTimeToFirstTokenHigh": self.latency("VllmTimeToFirstTokenHigh", "vllm:time_to_first_token_seconds", self.s.time_to_first_token),
            "VllmRequestLatencyHigh": self.latency("VllmRequestLatencyHigh", "vllm:e2e_request_latency_seconds", self.s.request_latency),
            "VllmErrorRateHigh": self.error_rate(),
            "VllmWeightsFetchFailed": self.fetch_failed(),
            "VllmCacheNotWarmed": self.cache_not_warmed(),
        }


def promtool_tests(settings: MonitoringSettings, planned: ModelPlan, rules: str) -> dict[str, Any]:
    """A promtool test file for every enabled alert of the model (fires and quiet cases)."""
    cases = Cases(settings, planned).by_alert()
    assert set(cases) == set(ALERTS), "every alert needs promtool cases"
    enabled = {rule["alert"] for rule in alert_rules(settings, planned)}
    tests = [case for alert in ALERTS if alert in enabled for case in cases[alert]]
    return {"rule_files": [rules], "evaluation_interval": "1m", "tests": tests}


