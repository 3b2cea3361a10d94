"""The autoscaling add-on: the plan's group range, the KEDA objects, their validity, their queries, and its config errors."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import kubernetes_validate
import pulumi
import pytest
import yaml

from components import _k8s
from vllm_fleet.builtin.autoscaling import AutoscalingSettings, metric_query
from vllm_fleet.cli import plan_table
from vllm_fleet.config import load_fleet
from vllm_fleet.errors import ConfigError
from vllm_fleet.plan import ModelPlan, plan_fleet
from vllm_fleet.plugins import Registry
from vllm_fleet.plugins.types import ObjectSpec
from vllm_fleet.summary import PlanSummary

from .dataplane_support import PROJECT, config, model, plan
from .monitoring_support import expressions_file, full_object, promtool
from .test_monitoring import K8S_VERSION, VALIDATE_CRS
from .vllm_metrics import unknown_labels, unknown_metrics, vllm_metrics_in

PROMETHEUS = {"serverAddress": "http://prometheus-operated.monitoring.svc:9090"}
QUEUE = {"minReplicas": 2, "maxReplicas": 4, "metric": "requestsWaiting", "target": 8, "prometheus": PROMETHEUS}
KV = {"maxReplicas": 3, "metric": "kvCacheUsage", "target": 0.8, "prometheus": PROMETHEUS}
TTFT = {"maxReplicas": 3, "metric": "timeToFirstToken", "target": 1.5, "quantile": 0.95, "window": "5m", "prometheus": PROMETHEUS}
ZERO = {"minReplicas": 0, "maxReplicas": 2, "scaleToZero": {"concurrency": 32}}
METRICS = {"requestsWaiting": QUEUE, "kvCacheUsage": KV, "timeToFirstToken": TTFT}


def _lws(autoscaling: dict[str, Any], **overrides: Any) -> ModelPlan:
    """A two-pod group (TP=16 on 8-GPU nodes) on a LeaderWorkerSet."""
    return plan(config(model(workload="leaderworkerset", autoscaling=autoscaling, **overrides)))


def _single(autoscaling: dict[str, Any], **overrides: Any) -> ModelPlan:
    """A one-pod model (TP=2) on the default statefulsets workload."""
    return plan(config(model(name="small", parallelism={"tensor": 2}, autoscaling=autoscaling, **overrides)))


def _addon_objects(planned: ModelPlan) -> dict[str, ObjectSpec]:
    return {o.kind: o for group in planned.addon_groups for o in group.objects if group.name.endswith("-autoscaling")}


def _spec(planned: ModelPlan) -> dict[str, Any]:
    return _addon_objects(planned)["ScaledObject"].body["spec"]


# ------------------------------------------------------------------ plan


def test_the_plan_starts_at_the_fewest_groups_and_knows_the_most():
    planned = _lws(QUEUE)
    assert (planned.replicas, planned.min_replicas, planned.max_replicas) == (2, 2, 4)
    assert [role.pods for role in planned.roles] == [2, 2]  # 2 groups: 2 leaders, 2 workers
    lws = planned.workload_objects[0]
    assert lws.body["spec"]["replicas"] == 2
    assert lws.ignore_changes == ("spec.replicas",)


def test_without_autoscaling_the_range_is_the_replicas_and_pulumi_owns_them():
    planned = plan(config(model(workload="leaderworkerset", replicas=3)))
    assert (planned.min_replicas, planned.max_replicas, planned.replica_range) == (3, 3, None)
    assert all(o.ignore_changes == () for o in planned.workload_objects)


def test_a_scale_to_zero_model_is_created_with_no_group():
    planned = _single(ZERO)
    (head,) = planned.workload_objects
    assert head.kind == "StatefulSet" and head.body["spec"]["replicas"] == 0
    assert head.ignore_changes == ("spec.replicas",)
    assert planned.total_gpus == 0 and planned.max_replicas == 2


def test_the_addons_list_entry_works_like_the_model_key():
    by_key = _lws(QUEUE)
    by_entry = plan(config(model(workload="leaderworkerset", addons=[{"type": "autoscaling", **QUEUE}])))
    assert _spec(by_key) == _spec(by_entry)


def test_register_hands_ignore_changes_to_pulumi(monkeypatch):
    captured: dict[str, Any] = {}

    def fake_resource(name, **kwargs):
        captured.update(kwargs)

    monkeypatch.setattr(_k8s.k8s.apiextensions, "CustomResource", fake_resource)
    spec = ObjectSpec("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet", "m-group", {"spec": {"replicas": 2}}, ignore_changes=("spec.replicas",))
    _k8s.register(spec, "ns", pulumi.ResourceOptions())
    assert captured["opts"].ignore_changes == ["spec.replicas"]
    _k8s.register(ObjectSpec("v1alpha1", "Thing", "t", {}), "ns", pulumi.ResourceOptions())
    assert not captured["opts"].ignore_changes


# ------------------------------------------------------------------ objects


def test_an_lws_group_is_scaled_through_the_leaderworkerset_on_its_leaders_queue():
    spec = _spec(_lws(QUEUE))
    assert spec["scaleTargetRef"] == {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": "llm-group"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 4)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"] == {
        "serverAddress": PROMETHEUS["serverAddress"],
        "query": 'sum(vllm:num_requests_waiting{namespace="llm-test", pod=~"llm-group-[0-9]+"})',
        "threshold": "8",
        "ignoreNullValues": "false",
    }
    assert spec["fallback"] == {"failureThreshold": 3, "replicas": 2, "behavior": "currentReplicas"}
    assert "cooldownPeriod" not in spec


def test_cooldown_and_stabilisation_windows_reach_keda_and_the_hpa():
    settings = {**QUEUE, "scaleUp": {"stabilizationSeconds": 60, "maxGroups": 2, "periodSeconds": 120}, "scaleDown": {"stabilizationSeconds": 1200}}
    behavior = _spec(_lws(settings))["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior == {
        "scaleUp": {"stabilizationWindowSeconds": 60, "policies": [{"type": "Pods", "value": 2, "periodSeconds": 120}]},
        "scaleDown": {"stabilizationWindowSeconds": 1200},
    }
    assert _spec(_single({**ZERO, "cooldownSeconds": 120}))["cooldownPeriod"] == 120


def test_a_single_pod_model_scales_its_head_statefulset_to_zero_through_the_interceptor():
    planned = _single({**ZERO, "scaleToZero": {"concurrency": 32, "hosts": ["small.example.com"]}})
    objects = _addon_objects(planned)
    spec = objects["ScaledObject"].body["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "small-head"}
    assert (spec["minReplicaCount"], spec["cooldownPeriod"]) == (0, 900)
    assert spec["triggers"] == [{
        "type": "external-push",
        "name": "http-interceptor",
        "metadata": {"scalerAddress": "keda-add-ons-http-external-scaler.keda:9090", "interceptorRoute": "small"},
    }]
    route = objects["InterceptorRoute"].body["spec"]
    assert route["target"] == {"service": "small", "port": 8000}
    assert route["rules"] == [{"hosts": ["small.llm-test.svc.cluster.local", "small.llm-test.svc", "small.llm-test", "small.example.com"]}]
    assert route["scalingMetric"] == {"concurrency": {"targetValue": 32}}
    policy = objects["NetworkPolicy"].body["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "head"
    assert policy["ingress"] == [{
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}}],
        "ports": [{"port": 8000, "protocol": "TCP"}],
    }]


def test_the_default_request_timeout_covers_the_cold_start_the_plan_allows():
    planned = _single(ZERO, startupTimeoutSeconds=900)
    timeouts = _addon_objects(planned)["InterceptorRoute"].body["spec"]["timeouts"]
    # 300 s to schedule + the 900 s startup budget + 600 s for the response headers.
    assert timeouts == {"request": "1800s", "readiness": "0s", "responseHeader": "600s"}
    chosen = _single({**ZERO, "scaleToZero": {"requestTimeoutSeconds": 7200, "responseHeaderTimeoutSeconds": 900}})
    assert _addon_objects(chosen)["InterceptorRoute"].body["spec"]["timeouts"] == {"request": "7200s", "readiness": "0s", "responseHeader": "900s"}


def test_scale_to_zero_with_a_metric_keeps_both_triggers():
    planned = _lws({**QUEUE, "minReplicas": 0, "scaleToZero": {}})
    assert [t["type"] for t in _spec(planned)["triggers"]] == ["prometheus", "external-push"]
    assert _spec(planned)["fallback"]["replicas"] == 1


def _full_objects(tmp_path) -> list[dict[str, Any]]:
    plans = [_lws(QUEUE), _lws(KV), _lws(TTFT), _single(ZERO), _lws({**TTFT, "minReplicas": 0, "scaleToZero": {"interceptor": {"podLabels": {"app": "i"}}}})]
    objects = [full_object(o, p.namespace) for p in plans for o in _addon_objects(p).values()]
    for index, obj in enumerate(objects):
        (tmp_path / f"{index:02d}-{obj['kind']}.yaml").write_text(yaml.safe_dump(obj))
    return objects


def test_scaled_objects_and_interceptor_routes_match_the_upstream_crds(tmp_path):
    objects = _full_objects(tmp_path)
    custom = [o for o in objects if o["apiVersion"] != "networking.k8s.io/v1"]
    assert {o["kind"] for o in custom} == {"ScaledObject", "InterceptorRoute"}
    result = subprocess.run([sys.executable, str(VALIDATE_CRS), str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(custom)} checked, 0 failed" in result.stdout


def test_the_crd_rules_the_schema_check_cannot_run_hold(tmp_path):
    """CEL rules (x-kubernetes-validations) of the two CRDs, which validate_crs.py does not evaluate."""
    for obj in _full_objects(tmp_path):
        spec = obj["spec"]
        if obj["kind"] == "InterceptorRoute":
            assert ("port" in spec["target"]) != ("portName" in spec["target"])
            assert "concurrency" in spec["scalingMetric"] or "requestRate" in spec["scalingMetric"]
        if obj["kind"] == "ScaledObject":
            assert spec["minReplicaCount"] <= spec["maxReplicaCount"]


def test_the_crd_check_can_fail(tmp_path):
    route = next(o for o in _full_objects(tmp_path) if o["kind"] == "InterceptorRoute")
    route["spec"]["timeouts"]["readiness"] = 0
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "route.yaml").write_text(yaml.safe_dump(route))
    result = subprocess.run([sys.executable, str(VALIDATE_CRS), str(broken)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "FAIL InterceptorRoute/" in result.stdout


def test_the_interceptor_policy_passes_strict_kubernetes_validation(tmp_path):
    policies = [o for o in _full_objects(tmp_path) if o["kind"] == "NetworkPolicy"]
    assert len(policies) == 2
    for policy in policies:
        kubernetes_validate.validate(policy, K8S_VERSION, strict=True)


# ------------------------------------------------------------------ queries


def _queries() -> list[str]:
    plans = [_lws(s) for s in METRICS.values()] + [_single({**s, "minReplicas": 1}) for s in METRICS.values()]
    return [t["metadata"]["query"] for p in plans for t in _spec(p)["triggers"] if t["type"] == "prometheus"]


def test_every_query_names_metrics_vllm_exports_with_labels_they_carry():
    queries = _queries()
    assert len(queries) == 6
    assert vllm_metrics_in(queries) >= {"vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:time_to_first_token_seconds_bucket"}
    assert unknown_metrics(queries) == set()
    assert unknown_labels(queries) == []


def test_the_name_check_catches_a_metric_vllm_does_not_export():
    assert unknown_metrics(["sum(vllm:num_requests_swapped{pod=~\"m-[0-9]+\"})"]) == {"vllm:num_requests_swapped"}


def test_every_query_parses_as_promql(tmp_path):
    queries = _queries()
    checked = expressions_file(queries, tmp_path / "queries.yaml")
    result = promtool("check", "rules", str(checked), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def _evaluate(tmp_path, query: str, series: list[dict[str, str]], expected: list[dict[str, Any]]) -> subprocess.CompletedProcess:
    """`promtool test rules`: the query over synthetic series must give `expected` at 5m."""
    (tmp_path / "empty.yaml").write_text(yaml.safe_dump({"groups": []}))
    test = {"interval": "1m", "input_series": series,
            "promql_expr_test": [{"expr": query, "eval_time": "5m", "exp_samples": expected}]}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump({"rule_files": ["empty.yaml"], "tests": [test]}, sort_keys=False))
    return promtool("test", "rules", "tests.yaml", cwd=tmp_path)


def _waiting(pod: str, value: int, namespace: str = "llm-test") -> dict[str, str]:
    return {"series": f'vllm:num_requests_waiting{{namespace="{namespace}", pod="{pod}", engine="0"}}', "values": f"{value}x10"}


def test_the_queue_query_counts_leaders_only(tmp_path):
    """Leaders `llm-group-<g>` count; a worker `llm-group-<g>-<i>` and another namespace's pods do not."""
    query = metric_query(AutoscalingSettings.model_validate(QUEUE), _lws(QUEUE))
    series = [_waiting("llm-group-0", 5), _waiting("llm-group-1", 3), _waiting("llm-group-0-1", 100), _waiting("llm-group-0", 50, "other")]
    result = _evaluate(tmp_path, query, series, [{"labels": "{}", "value": 8}])
    assert result.returncode == 0, result.stdout + result.stderr
    # The check can fail: counting the worker too would give 108.
    wrong = _evaluate(tmp_path, query.replace('pod=~"llm-group-[0-9]+"', 'pod=~"llm-group-.+"'), series, [{"labels": "{}", "value": 8}])
    assert wrong.returncode == 1


def test_the_latency_query_reads_zero_when_idle_and_nothing_when_unscraped(tmp_path):
    planned = _lws(TTFT)
    query = metric_query(AutoscalingSettings.model_validate(TTFT), planned)
    leader = 'namespace="llm-test", pod="llm-group-0"'
    idle = [
        {"series": f'vllm:time_to_first_token_seconds_bucket{{{leader}, le="+Inf"}}', "values": "7x10"},
        {"series": f"vllm:num_requests_running{{{leader}}}", "values": "0x10"},
    ]
    assert _evaluate(tmp_path, query, idle, [{"labels": "{}", "value": 0}]).returncode == 0
    busy = [
        {"series": f'vllm:time_to_first_token_seconds_bucket{{{leader}, le="1"}}', "values": "0+0x10"},
        {"series": f'vllm:time_to_first_token_seconds_bucket{{{leader}, le="4"}}', "values": "0+10x10"},
        {"series": f'vllm:time_to_first_token_seconds_bucket{{{leader}, le="+Inf"}}', "values": "0+10x10"},
        {"series": f"vllm:num_requests_running{{{leader}}}", "values": "3x10"},
    ]
    # Every request between 1 and 4 s: the 0.95 quantile interpolates to 1 + 3 × 0.95.
    assert _evaluate(tmp_path, query, busy, [{"labels": "{}", "value": 3.85}]).returncode == 0
    assert _evaluate(tmp_path, query, [{"series": 'up{job="x"}', "values": "1x10"}], []).returncode == 0


# ------------------------------------------------------------------ config errors


def _problems(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        plan_fleet(load_fleet(raw, Registry.discover()))
    return {issue.path: issue.message for issue in caught.value.issues}


BAD = [
    ("min-above-max", {**QUEUE, "minReplicas": 5}, "autoscaling.minReplicas", "above maxReplicas (4)"),
    ("nothing-to-scale", {**QUEUE, "maxReplicas": 2}, "autoscaling.maxReplicas", "nothing to scale"),
    ("zero-without-interceptor", {**QUEUE, "minReplicas": 0}, "autoscaling.minReplicas", "scaleToZero"),
    ("interceptor-above-zero", {**QUEUE, "scaleToZero": {}}, "autoscaling.scaleToZero", "set minReplicas: 0"),
    ("no-metric", {"maxReplicas": 3}, "autoscaling.metric", "requestsWaiting | kvCacheUsage | timeToFirstToken"),
    ("no-target", {**QUEUE, "target": None}, "autoscaling.target", "required"),
    ("no-prometheus", {**QUEUE, "prometheus": None}, "autoscaling.prometheus.serverAddress", "required"),
    ("kv-above-one", {**KV, "target": 80}, "autoscaling.target", "fraction below 1"),
    ("quantile-without-latency", {**QUEUE, "quantile": 0.5}, "autoscaling.quantile", "no effect"),
    ("cooldown-without-zero", {**QUEUE, "cooldownSeconds": 60}, "autoscaling.cooldownSeconds", "no effect"),
    ("target-without-metric", {**ZERO, "target": 3}, "autoscaling.target", "no effect"),
    ("unknown-metric", {**QUEUE, "metric": "gpuUtilization"}, "autoscaling.metric", "requestsWaiting"),
    ("no-max", {**QUEUE, "maxReplicas": None}, "autoscaling.maxReplicas", "required"),
    ("max-too-large", {**QUEUE, "maxReplicas": 5000}, "autoscaling.maxReplicas", "1024"),
    ("bad-server-address", {**QUEUE, "prometheus": {"serverAddress": "prometheus:9090"}}, "autoscaling.prometheus.serverAddress", "must match"),
    ("typo", {**QUEUE, "maxReplica": 4}, "autoscaling", "unknown key 'maxReplica'"),
    ("catch-all-host", {**ZERO, "scaleToZero": {"hosts": ["*"]}}, "autoscaling.scaleToZero.hosts[0]", "must match"),
    ("host-with-scheme", {**ZERO, "scaleToZero": {"hosts": ["http://x.example.com"]}}, "autoscaling.scaleToZero.hosts[0]", "must match"),
    ("bad-interceptor-namespace", {**ZERO, "scaleToZero": {"interceptor": {"namespace": "KEDA"}}}, "autoscaling.scaleToZero.interceptor.namespace", "must match"),
]


@pytest.mark.parametrize("settings,path,fragment", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_impossible_settings_are_errors_at_their_key(settings, path, fragment):
    settings = {key: value for key, value in settings.items() if value is not None}
    problems = _problems(config(model(workload="leaderworkerset", autoscaling=settings)))
    key = f"vllm-fleet:models[0].{path}"
    assert key in problems, problems
    assert fragment in problems[key]


def test_a_multi_node_model_on_statefulsets_is_told_to_use_leaderworkerset():
    problems = _problems(config(model(autoscaling=QUEUE)))
    assert "`workload: leaderworkerset`" in problems["vllm-fleet:models[0].autoscaling"]


@pytest.mark.parametrize(
    "extra,path,fragment",
    [
        ({"placement": {"group": "strict-pack", "topologyKey": "rack"}}, "placement.group", "replicas: 3 gives the pods"),
        ({"addons": [{"type": "kueue", "queue": "q"}]}, "workload", "its 3 groups would be admitted all together"),
    ],
    ids=["group-placement", "kueue"],
)
def test_statefulsets_judge_an_autoscaled_model_by_its_most_groups(extra, path, fragment):
    """1..3 groups of one StatefulSet are refused where 3 fixed groups are: the autoscaler may add them."""
    problems = _problems(config(model(name="small", parallelism={"tensor": 2}, autoscaling=KV, **extra)))
    assert fragment in problems[f"vllm-fleet:models[0].{path}"]


def test_replicas_and_autoscaling_together_are_an_error_at_replicas():
    problems = _problems(config(model(workload="leaderworkerset", replicas=3, autoscaling=QUEUE)))
    assert "between 2 and 4 groups" in problems["vllm-fleet:models[0].replicas"]


def test_the_key_and_an_addons_entry_together_are_an_error():
    raw = config(model(workload="leaderworkerset", autoscaling=QUEUE, addons=[{"type": "autoscaling", **QUEUE}]))
    problems = _problems(raw)
    assert "also listed at models[0].addons[0]" in problems["vllm-fleet:models[0].autoscaling"]


# ------------------------------------------------------------------ plan table


def test_the_plan_table_shows_the_group_and_gpu_ranges(stack_renders):
    table = plan_table(stack_renders["prod"])
    row = next(line for line in table.splitlines() if line.strip().startswith("llama-405b"))
    assert " 2–4 " in row and " 32–64 (2–4×16) " in row
    staging = next(line for line in plan_table(stack_renders["staging"]).splitlines() if line.strip().startswith("qwen-coder"))
    assert " 0–2 " in staging and " 0–4 (0–2×2) " in staging
    fixed = next(line for line in table.splitlines() if line.strip().startswith("llama-70b"))
    assert "–" not in fixed.split("http")[0]


def test_an_older_output_without_a_range_reads_as_its_replicas():
    row = {"tensor": 8, "pipeline": 1, "pods": 1, "headGpus": 8, "workerGpus": 0, "groupGpus": 8, "replicas": 3,
           "totalGpus": 24, "launcher": "single-pod", "workload": "statefulsets", "apiUrl": "http://x"}
    summary = PlanSummary.from_output(row)
    assert (summary.min_replicas, summary.max_replicas, summary.gpu_range) == (3, 3, (24, 24))


def test_the_docs_cold_start_figure_is_the_staging_plan(stack_renders):
    route = next(o for o in stack_renders["staging"].objects() if o["kind"] == "InterceptorRoute")
    assert route["metadata"]["name"] == "qwen-coder" and route["spec"]["timeouts"]["request"] == "1800s"
    doc = (PROJECT / "docs" / "elastic-serving.md").read_text()
    assert "**1800 s** = 300 + 900 + 600" in doc
    scaled = next(o for o in stack_renders["staging"].objects() if o["kind"] == "ScaledObject")
    assert scaled["spec"]["minReplicaCount"] == 0


def test_an_autoscaled_pod_template_does_not_depend_on_the_group_count():
    """KEDA changes the count without Pulumi: the pods it adds must be the pods the plan describes."""
    one, two = _single({**QUEUE, "minReplicas": 1}), _single({**QUEUE, "minReplicas": 2})
    assert one.workload_objects[0].body["spec"]["template"] == two.workload_objects[0].body["spec"]["template"]
    env = {e["name"]: e for e in one.workload_objects[0].body["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["VLLM_FLEET_HEAD_ADDRESS"]["value"] == "$(VLLM_FLEET_POD_NAME).small-group.llm-test.svc.cluster.local"
