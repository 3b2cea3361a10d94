"""The monitoring add-on: settings, the objects it plans, their validity, and vLLM's real metric names."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from vllm_fleet.builtin.monitoring import (
    ALERTS,
    MonitoringAddon,
    MonitoringSettings,
    alert_rules,
    stack_dashboard,
)
from vllm_fleet.constants import DEFAULT_IMAGE, RAY_PORTS
from vllm_fleet.errors import PlanError
from vllm_fleet.names import image_tag

from .dataplane_support import PROJECT, config, model, plan
# VALIDATE_CRS is re-exported: test_autoscaling imports it from here.
from .monitoring_support import K8S_VERSION, VALIDATE_CRS, full_object, ray_plan_with_fetch_and_cache, validate_crs  # noqa: F401
from .vllm_metrics import exported_samples, metrics_file, unknown_labels, unknown_metrics, vllm_metrics_in

# grafana-operator's GrafanaDashboard schema, vendored (see its SOURCES.md): the shared folder lacks it.
GRAFANA_SCHEMAS = PROJECT / "tests" / "fixtures" / "crd-schemas"
COMPONENT_LABEL = "__meta_kubernetes_pod_label_app_kubernetes_io_component"
POD_INDEX_LABEL = "__meta_kubernetes_pod_label_apps_kubernetes_io_pod_index"


def _objects(settings: dict | None = None, planned=None):
    return MonitoringAddon().objects(MonitoringSettings.model_validate(settings or {}), planned or ray_plan_with_fetch_and_cache())


def _by_kind(objects):
    return {o.kind: o for o in objects}


def _plans():
    """A Ray group with fetch Job and cache, a single-pod model and a native-launcher group."""
    return [
        ray_plan_with_fetch_and_cache(),
        plan(config(model(name="small", parallelism={"tensor": 2}))),
        plan(config(model(name="native", launcher="native"))),
    ]


# ------------------------------------------------------------------ settings


def test_an_unknown_alert_name_is_an_error_listing_the_valid_ones():
    with pytest.raises(ValidationError) as caught:
        MonitoringSettings.model_validate({"alerts": {"VllmKvCacheFull": False}})
    message = str(caught.value)
    assert "unknown alert(s) VllmKvCacheFull" in message
    assert all(name in message for name in ALERTS)


@pytest.mark.parametrize(
    "settings, key",
    [
        ({"requestsWaiting": {"treshold": 3}}, "treshold"),
        ({"kvCacheUsage": {"threshold": 1.5}}, "threshold"),
        ({"timeToFirstToken": {"quantile": 1, "seconds": 2}}, "quantile"),
        ({"notServing": {"for": "15 minutes"}}, "for"),
        ({"scrape": "Probe"}, "scrape"),
    ],
)
def test_bad_settings_name_their_key(settings, key):
    with pytest.raises(ValidationError) as caught:
        MonitoringSettings.model_validate(settings)
    assert key in str(caught.value)


def test_settings_use_camel_case_keys_and_keep_defaults_of_unset_siblings():
    settings = MonitoringSettings.model_validate({"timeToFirstToken": {"seconds": 0.5}, "scraper": {"namespace": "prom"}})
    assert settings.time_to_first_token.seconds == 0.5 and settings.time_to_first_token.quantile == 0.9
    assert settings.scraper.pod_labels == {"app.kubernetes.io/name": "prometheus"}


# ------------------------------------------------------------------ objects


def test_a_ray_group_gets_a_pod_monitor_rules_and_a_scraper_policy():
    objects = _objects()
    assert [(o.kind, o.name) for o in objects] == [
        ("PodMonitor", "llm-metrics"), ("PrometheusRule", "llm-alerts"), ("NetworkPolicy", "llm-metrics"),
    ]
    monitor = _by_kind(objects)["PodMonitor"].body["spec"]
    vllm, ray = monitor["podMetricsEndpoints"]
    assert vllm["port"] == "http" and vllm["path"] == "/metrics"
    port = RAY_PORTS["metrics_export"]
    assert {r.get("replacement") for r in ray["relabelings"]} >= {f"$1:{port}", f"[$1]:{port}"}
    # Members only: the fetch Job's pods carry the same instance label.
    assert monitor["selector"]["matchExpressions"] == [{"key": "app.kubernetes.io/component", "operator": "In", "values": ["head", "worker"]}]


def test_every_endpoint_labels_series_by_stack_model_group_and_role():
    for settings in ({}, {"scrape": "ServiceMonitor"}):
        monitor = next(o for o in _objects(settings | {"stack": "prod"}) if o.kind.endswith("Monitor"))
        spec = monitor.body["spec"]
        for endpoint in spec.get("podMetricsEndpoints", spec.get("endpoints")):
            targets = {r.get("targetLabel"): r for r in endpoint["relabelings"]}
            assert targets["stack"]["replacement"] == "prod"
            assert targets["model"]["sourceLabels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_instance"]
            groups = [r for r in endpoint["relabelings"] if r.get("targetLabel") == "group"]
            assert groups and all(r["sourceLabels"] == [COMPONENT_LABEL, POD_INDEX_LABEL] for r in groups)
            assert targets["role"]["sourceLabels"] == [COMPONENT_LABEL]


def _group_of(relabelings: list[dict], pod_labels: dict[str, str]) -> str | None:
    """What Prometheus's `replace` relabelings (fully anchored regex) write into `group` for a pod with these labels."""
    group = None
    for rule in (r for r in relabelings if r.get("targetLabel") == "group"):
        value = ";".join(pod_labels.get(source, "") for source in rule["sourceLabels"])
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if match:
            group = match.expand(rule.get("replacement", "$1").replace("$1", r"\1"))
    return group


def test_statefulset_pods_are_labelled_with_their_group_from_their_ordinal():
    planned = plan(config(model(storage={"type": "huggingface", "size": "100Gi", "token": False}, replicas=3)))
    assert planned.workload == "statefulsets" and planned.gpus.workers == 1
    monitor = next(o for o in _objects({}, planned) if o.kind == "PodMonitor")
    relabelings = monitor.body["spec"]["podMetricsEndpoints"][0]["relabelings"]
    def pod(role, ordinal):
        return {COMPONENT_LABEL: role, POD_INDEX_LABEL: str(ordinal)}
    assert [_group_of(relabelings, pod("head", g)) for g in range(3)] == ["0", "1", "2"]
    assert [_group_of(relabelings, pod("worker", k)) for k in range(3)] == ["0", "1", "2"]
    assert _group_of(relabelings, pod("worker", 3)) is None, "an ordinal outside the plan gets no group"


def test_statefulset_workers_of_a_wider_group_share_its_index():
    planned = plan(config(model(parallelism={"tensor": 8, "pipeline": 3}, launcher="native", replicas=2)))
    assert planned.gpus.workers == 2
    monitor = next(o for o in _objects({}, planned) if o.kind == "PodMonitor")
    relabelings = monitor.body["spec"]["podMetricsEndpoints"][0]["relabelings"]
    assert [_group_of(relabelings, {COMPONENT_LABEL: "worker", POD_INDEX_LABEL: str(k)}) for k in range(4)] == ["0", "0", "1", "1"]


def test_leaderworkerset_pods_are_labelled_with_the_lws_group_index():
    planned = plan(config(model(workload="leaderworkerset", replicas=2)))
    for settings in ({}, {"scrape": "ServiceMonitor"}):
        monitor = next(o for o in _objects(settings, planned) if o.kind.endswith("Monitor"))
        spec = monitor.body["spec"]
        for endpoint in spec.get("podMetricsEndpoints", spec.get("endpoints")):
            (group,) = [r for r in endpoint["relabelings"] if r.get("targetLabel") == "group"]
            assert group == {"sourceLabels": ["__meta_kubernetes_pod_label_leaderworkerset_sigs_k8s_io_group_index"], "regex": "(.+)", "targetLabel": "group"}
    rules = {r["alert"]: r["expr"] for r in alert_rules(MonitoringSettings(), planned)}
    assert 'statefulset="llm-group"}) < 2' in rules["VllmGroupNotServing"], "LWS's leader StatefulSet, one head per group"
    assert 'pod=~"llm-group-[0-9]+|llm-group-[0-9]+-[0-9]+"' in rules["VllmGroupNotServing"]
    assert f"< {planned.total_gpus}," in rules["VllmGroupNotServing"]


def test_service_monitor_mode_adds_a_headless_service_over_unready_members_too():
    objects = _by_kind(_objects({"scrape": "ServiceMonitor"}))
    service = objects["Service"].body["spec"]
    assert service["clusterIP"] == "None" and service["publishNotReadyAddresses"] is True
    assert {p["name"]: p["targetPort"] for p in service["ports"]} == {"vllm-metrics": 8000, "ray-metrics": RAY_PORTS["metrics_export"]}
    monitor = objects["ServiceMonitor"].body["spec"]
    assert monitor["selector"]["matchLabels"] == {k: v for k, v in objects["Service"].labels.items() if k in monitor["selector"]["matchLabels"]}
    vllm, ray = monitor["endpoints"]
    assert vllm["relabelings"][0] == {"action": "keep", "sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"], "regex": "head"}
    assert ray["relabelings"][0]["regex"] == "head|worker"


@pytest.mark.parametrize("index", [1, 2])
def test_without_ray_only_the_api_port_is_scraped_and_admitted(index):
    planned = _plans()[index]
    objects = _by_kind(_objects({}, planned))
    assert len(objects["PodMonitor"].body["spec"]["podMetricsEndpoints"]) == 1
    ports = objects["NetworkPolicy"].body["spec"]["ingress"][0]["ports"]
    assert ports == [{"port": planned.api_port, "protocol": "TCP"}]


def test_ray_metrics_can_be_left_unscraped_and_unadmitted():
    for scrape in ("PodMonitor", "ServiceMonitor"):
        objects = _by_kind(_objects({"rayMetrics": False, "scrape": scrape}))
        spec = objects[scrape].body["spec"]
        assert len(spec.get("podMetricsEndpoints", spec.get("endpoints"))) == 1
        assert objects["NetworkPolicy"].body["spec"]["ingress"][0]["ports"] == [{"port": 8000, "protocol": "TCP"}]


def test_the_scraper_policy_admits_exactly_the_configured_scraper_on_the_metrics_ports():
    objects = _by_kind(_objects({"scraper": {"namespace": "obs", "podLabels": {"app": "prom"}}}))
    spec = objects["NetworkPolicy"].body["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "obs"}}, "podSelector": {"matchLabels": {"app": "prom"}}}]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}, {"port": RAY_PORTS["metrics_export"], "protocol": "TCP"}]


def test_fetch_and_cache_alerts_exist_only_where_there_is_a_job_or_a_warm_up():
    with_both = {r["alert"] for r in alert_rules(MonitoringSettings(), ray_plan_with_fetch_and_cache())}
    assert with_both == set(ALERTS)
    plain = {r["alert"] for r in alert_rules(MonitoringSettings(), _plans()[1])}
    assert plain == set(ALERTS) - {"VllmWeightsFetchFailed", "VllmCacheNotWarmed"}


def test_every_alert_has_a_severity_summary_description_and_runbook():
    settings = MonitoringSettings.model_validate({"runbookUrl": "https://runbooks.example/vllm"})
    for rule in alert_rules(settings, ray_plan_with_fetch_and_cache()):
        assert rule["labels"]["severity"] in {"critical", "warning"} and rule["labels"]["model"] == "llm"
        assert {"summary", "description", "runbook"} <= rule["annotations"].keys()
        assert rule["annotations"]["runbook_url"] == f"https://runbooks.example/vllm#{rule['alert'].lower()}"


def test_thresholds_reach_the_expressions():
    settings = MonitoringSettings.model_validate({"requestsWaiting": {"threshold": 7}, "timeToFirstToken": {"quantile": 0.95, "seconds": 1.5}})
    rules = {r["alert"]: r for r in alert_rules(settings, ray_plan_with_fetch_and_cache())}
    assert rules["VllmRequestsWaiting"]["expr"].strip().endswith("> 7")
    assert rules["VllmTimeToFirstTokenHigh"]["expr"].startswith("histogram_quantile(0.95,")
    assert rules["VllmTimeToFirstTokenHigh"]["expr"].strip().endswith("> 1.5")
    assert "< 16," in rules["VllmGroupNotServing"]["expr"], "planned GPUs of TP=16"


# ------------------------------------------------------------------ validity


def write_all(tmp_path: Path) -> list[dict]:
    """Every kind of object the add-on plans (both scrape modes, three launch shapes), one YAML file each."""
    plans = _plans()
    objects = []
    for planned in plans:
        for settings in ({}, {"scrape": "ServiceMonitor"}):
            objects += [full_object(o, planned.namespace) for o in _objects(settings, planned)]
    dashboard = stack_dashboard(plans, {p.name: MonitoringSettings() for p in plans})
    objects.append(full_object(dashboard, plans[0].namespace))
    for index, obj in enumerate(objects):
        (tmp_path / f"{index:02d}-{obj['kind']}-{obj['metadata']['name']}.yaml").write_text(yaml.safe_dump(obj))
    return objects


def test_custom_resources_match_the_upstream_crd_schemas(tmp_path):
    objects = write_all(tmp_path)
    result = validate_crs(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    custom = [o for o in objects if o["apiVersion"].startswith("monitoring.coreos.com/")]
    assert f"{len(custom)} checked, 0 failed" in result.stdout
    assert {o["kind"] for o in custom} == {"PodMonitor", "ServiceMonitor", "PrometheusRule"}


def test_a_grafana_dashboard_object_matches_the_grafana_operator_crd(tmp_path):
    plans = _plans()
    settings = MonitoringSettings.model_validate({"dashboard": {"kind": "GrafanaDashboard", "folder": "LLM", "instanceSelector": {"app": "g"}}})
    spec = stack_dashboard(plans, {p.name: settings for p in plans}, stack="prod")
    assert (spec.api_version, spec.kind) == ("grafana.integreatly.org/v1beta1", "GrafanaDashboard")
    assert spec.body["spec"]["instanceSelector"] == {"matchLabels": {"app": "g"}} and spec.body["spec"]["folder"] == "LLM"
    assert json.loads(spec.body["spec"]["json"])["title"] == "vLLM fleet prod"
    (tmp_path / "dashboard.yaml").write_text(yaml.safe_dump(full_object(spec, "llm-test")))
    result = validate_crs(tmp_path, "--schemas", str(GRAFANA_SCHEMAS))
    assert result.returncode == 0 and "1 checked, 0 failed" in result.stdout, result.stdout + result.stderr
    broken = full_object(spec, "llm-test")
    del broken["spec"]["instanceSelector"]
    (tmp_path / "dashboard.yaml").write_text(yaml.safe_dump(broken))
    result = validate_crs(tmp_path, "--schemas", str(GRAFANA_SCHEMAS))
    assert result.returncode == 1 and "instanceSelector" in result.stdout


def test_the_crd_check_can_fail(tmp_path):
    monitor = full_object(_objects()[0], "llm-test")
    monitor["spec"]["podMetricsEndpoints"][0]["portNumber"] = "http"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(monitor))
    result = validate_crs(tmp_path)
    assert result.returncode == 1 and "FAIL PodMonitor/llm-metrics" in result.stdout


def test_core_objects_pass_strict_kubernetes_validation(tmp_path):
    core = [o for o in write_all(tmp_path) if o["apiVersion"] in ("v1", "networking.k8s.io/v1")]
    assert {o["kind"] for o in core} == {"Service", "NetworkPolicy", "ConfigMap"}
    for obj in core:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


# ------------------------------------------------------------------ dashboard


def test_the_dashboard_has_a_row_per_model_and_panels_that_do_not_overlap():
    plans = _plans()
    settings = {p.name: MonitoringSettings() for p in plans}
    settings["native"] = MonitoringSettings.model_validate({"dashboard": {"enabled": False}})
    spec = stack_dashboard(plans, settings, stack="prod")
    assert spec.kind == "ConfigMap" and spec.labels["grafana_dashboard"] == "1"
    dashboard = json.loads(spec.body["data"]["vllm-fleet.json"])
    assert dashboard["title"] == "vLLM fleet prod"
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Model llm: 16 GPUs, 2 pods", "Model small: 2 GPUs, 1 pod"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells = [(p["gridPos"]["x"] + dx, p["gridPos"]["y"] + dy) for p in dashboard["panels"]
             for dx in range(p["gridPos"]["w"]) for dy in range(p["gridPos"]["h"])]
    assert len(cells) == len(set(cells)), "panels overlap"
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"Requests running / waiting", "Time to first token", "End-to-end request latency", "Tokens per second",
            "KV-cache usage", "Ready GPUs by role", "Group health", "Container restarts (1 h)"} <= titles


def test_models_that_disagree_on_the_dashboard_configmap_are_an_error():
    plans = _plans()[:2]
    settings = {"llm": MonitoringSettings(), "small": MonitoringSettings.model_validate({"dashboard": {"labels": {"other": "1"}}})}
    with pytest.raises(PlanError) as caught:
        stack_dashboard(plans, settings)
    assert "'llm' and 'small'" in caught.value.message and "(labels)" in caught.value.message


def test_no_dashboard_when_every_model_opts_out():
    plans = _plans()[:1]
    assert stack_dashboard(plans, {"llm": MonitoringSettings.model_validate({"dashboard": {"enabled": False}})}) is None


# ------------------------------------------------------------------ vLLM metric names


def _all_queries() -> list[str]:
    plans = _plans()
    rules = [r["expr"] for p in plans for r in alert_rules(MonitoringSettings(), p)]
    dashboard = json.loads(stack_dashboard(plans, {p.name: MonitoringSettings() for p in plans}).body["data"]["vllm-fleet.json"])
    return rules + [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_the_metrics_file_is_for_the_vllm_version_the_image_pins():
    assert metrics_file()["vllm_version"] == image_tag(DEFAULT_IMAGE).lstrip("v")


def test_every_vllm_metric_in_rules_and_panels_is_one_vllm_exports():
    assert vllm_metrics_in(_all_queries()), "the queries name vLLM metrics"
    unknown = unknown_metrics(_all_queries())
    assert not unknown, f"not exported by vLLM {metrics_file()['vllm_version']}: {sorted(unknown)}"


def test_every_label_matched_on_a_vllm_metric_is_one_it_has_or_the_scrape_adds():
    assert unknown_labels(_all_queries()) == []
    assert unknown_labels(['vllm:num_requests_waiting{engine="0", shard="a"}']) == ["vllm:num_requests_waiting: ['shard']"]


KSM_FILE = PROJECT / "templates" / "monitoring" / "kube-state-metrics.json"
KSM_METRIC = re.compile(r"\b(kube_[a-z0-9_]+)\{([^}]*)\}")


def test_every_kube_state_metric_and_label_the_queries_use_is_documented():
    documented = json.loads(KSM_FILE.read_text())["metrics"]
    used = 0
    for query in _all_queries():
        for name, matchers in KSM_METRIC.findall(query):
            assert name in documented, f"{name} is not a kube-state-metrics metric"
            labels = {m.split("=")[0].strip().rstrip("!~") for m in matchers.split(",") if m.strip()}
            assert labels <= set(documented[name]["labels"]), f"{name} has no label(s) {labels - set(documented[name]['labels'])}"
            used += 1
    assert used > 10


def test_the_ksm_extraction_script_reads_the_documented_tables(tmp_path):
    docs = tmp_path / "ksm" / "docs" / "metrics" / "workload"
    docs.mkdir(parents=True)
    (docs / "job-metrics.md").write_text(
        "| Metric name | Metric type | Description | Labels/tags | Status |\n| --- | --- | --- | --- | --- |\n"
        "| kube_job_failed | Gauge | | `job_name`=&lt;job-name&gt; <br> `condition`=&lt;true\\|false&gt; | STABLE |\n"
    )
    out = tmp_path / "ksm.json"
    script = PROJECT / "scripts" / "ksm_metric_names.py"
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "ksm"), "--version", "v9.9.9", "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["kube_state_metrics_version"] == "v9.9.9"
    assert data["metrics"] == {"kube_job_failed": {"type": "gauge", "labels": ["condition", "job_name"], "documented_in": ["docs/metrics/workload/job-metrics.md"]}}


def test_the_name_check_catches_a_metric_vllm_does_not_export():
    exported = exported_samples()
    assert "vllm:num_requests_swapped" not in exported, "removed in the V1 engine"
    assert "vllm:prompt_tokens" not in exported, "a counter is exposed as vllm:prompt_tokens_total"


def test_the_extraction_script_reads_metric_definitions_from_source(tmp_path):
    package = tmp_path / "src" / "vllm"
    package.mkdir(parents=True)
    (package / "_version.py").write_text('__version__ = version = "9.8.7"\n')
    (package / "loggers.py").write_text(
        "labelnames = ['model_name', 'engine']\n"
        "g = self._gauge_cls(name='vllm:queue_depth', documentation='x', labelnames=labelnames)\n"
        "c = prometheus_client.Counter('vllm:things', 'x', labelnames=labelnames + ['reason'])\n"
        "h = Histogram(name='vllm:wait_seconds', documentation='x')\n"
        "not_a_metric = dict(name='vllm:nothing')\n"
    )
    out = tmp_path / "metrics.json"
    script = PROJECT / "scripts" / "vllm_metric_names.py"
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "src"), "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["vllm_version"] == "9.8.7"
    assert {n: m["samples"] for n, m in data["metrics"].items()} == {
        "vllm:queue_depth": ["vllm:queue_depth"],
        "vllm:things": ["vllm:things_total"],
        "vllm:wait_seconds": ["vllm:wait_seconds_bucket", "vllm:wait_seconds_sum", "vllm:wait_seconds_count"],
    }
    assert data["metrics"]["vllm:things"]["labels"] == ["engine", "model_name", "reason"]
    missing = subprocess.run([sys.executable, str(script), str(tmp_path / "nowhere"), "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no such wheel or directory" in missing.stderr


def test_the_generated_parts_of_the_monitoring_doc_are_current(tmp_path):
    script = PROJECT / "scripts" / "monitoring_sample.py"
    current = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=120)
    assert current.returncode == 0, current.stderr
    stale = tmp_path / "monitoring.md"
    stale.write_text((PROJECT / "docs" / "monitoring.md").read_text().replace("for 15m", "for 14m", 1))
    result = subprocess.run([sys.executable, str(script), "--check", str(stale)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "stale" in result.stderr


if __name__ == "__main__":
    # `python -m tests.test_monitoring DIR`: the add-on's objects as YAML, for validate_crs.py in .ci/run.
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    print(f"{len(write_all(target))} monitoring objects -> {target}")
