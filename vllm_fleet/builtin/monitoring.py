"""Monitoring add-on: scraping, alerts and a dashboard for each model's group.

Plain data like every plugin: `MonitoringAddon.objects()` reads a model's plan
and returns `ObjectSpec`s (a PodMonitor or ServiceMonitor, a PrometheusRule, a
NetworkPolicy that admits the scraper); `stack_dashboard()` returns the one
Grafana dashboard of a stack. Rules and the dashboard are Jinja2 templates under
`templates/monitoring/`; this module decides only what goes into them.

Signals and why:
- vLLM's own metrics (`/metrics` on the API port of the head) for queue, KV
  cache, latency and errors; names checked against `templates/monitoring/vllm-metrics.json`.
- kube-state-metrics for the group's health: it reports a group that serves
  nothing at all (no vLLM metrics to alert on), and the restart counter of
  every member container is the entrypoints' restart loop seen from outside.
- Ray's metrics port on every member when the launcher is Ray, scraped for the
  dashboard and ad-hoc queries. No alert depends on it: the head's readiness
  already encodes "every planned Ray node and GPU is alive" (its watchdog).
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Iterable, Literal, Mapping, Optional

import yaml
from pydantic import Field, field_validator

from ..constants import RAY_PORTS
from ..sdk import ModelPlan, ObjectSpec, PlanError, PluginSettings, common_labels, network_peer, render_template, selector_labels

MONITORING_API = "monitoring.coreos.com/v1"
GRAFANA_API = "grafana.integreatly.org/v1beta1"
#: LeaderWorkerSet labels every pod of a group (leader and workers) with the group's index.
LWS_GROUP_LABEL = "leaderworkerset.sigs.k8s.io/group-index"
#: The StatefulSet controller labels each pod with its ordinal (Kubernetes >= 1.28).
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
LWS_WORKLOAD = "leaderworkerset"
STATEFULSETS_WORKLOAD = "statefulsets"
#: Target labels every scraped series gets, so one query can slice by them.
TARGET_LABELS = ("stack", "model", "group", "role")
#: The container port name the head declares for the API (and so for /metrics).
API_PORT_NAME = "http"
RAY_METRICS_PORT_NAME = "ray-metrics"
VLLM_METRICS_PORT_NAME = "vllm-metrics"
MEMBER_ROLES = ("head", "worker")
#: Alerts in the order the rules file lists them; `alerts:` switches them by these names.
ALERTS = (
    "VllmGroupNotServing",
    "VllmRestartLoop",
    "VllmRequestsWaiting",
    "VllmKvCacheNearlyFull",
    "VllmTimeToFirstTokenHigh",
    "VllmRequestLatencyHigh",
    "VllmErrorRateHigh",
    "VllmWeightsFetchFailed",
    "VllmCacheNotWarmed",
)
DASHBOARD_KEY = "vllm-fleet.json"
#: A row header (1) and two lines of 8-high panels per model.
DASHBOARD_ROW_HEIGHT = 17
_DURATION = r"^[1-9][0-9]*(s|m|h|d)$"
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def duration_seconds(duration: str) -> int:
    """Seconds of a Prometheus duration as the settings accept it ('90s', '15m', '2h', '1d')."""
    return int(duration[:-1]) * _UNIT_SECONDS[duration[-1]]


def prometheus_label_name(name: str) -> str:
    """How Prometheus (and kube-state-metrics) spell a Kubernetes label or resource name: `nvidia.com/gpu` -> `nvidia_com_gpu`."""
    return _LABEL_CHARS.sub("_", name)


# ------------------------------------------------------------------ settings

class ForDuration(PluginSettings):
    for_: str = Field("10m", alias="for", pattern=_DURATION, description="How long the condition must hold before the alert fires.")


class NotServing(PluginSettings):
    for_: str = Field(
        "15m", alias="for", pattern=_DURATION,
        description="Head unready or fewer ready GPUs than planned for this long. Longer than a normal model load.",
    )


class RestartLoop(PluginSettings):
    restarts: int = Field(3, ge=1, description="Container restarts of one member within `window` that count as a loop.")
    window: str = Field("30m", pattern=_DURATION, description="The window the restarts are counted over.")


class RequestsWaiting(ForDuration):
    threshold: int = Field(20, ge=0, description="Requests queued (vllm:num_requests_waiting, summed over the group's engines).")
    for_: str = Field("5m", alias="for", pattern=_DURATION, description="How long the queue must stay above the threshold.")


class KvCacheUsage(ForDuration):
    threshold: float = Field(0.95, gt=0, le=1, description="KV-cache usage (0-1, vllm:kv_cache_usage_perc) that counts as near full.")


class LatencyObjective(ForDuration):
    quantile: float = Field(0.9, gt=0, lt=1, description="Which quantile of the histogram the objective bounds.")
    seconds: float = Field(gt=0, description="The objective: that quantile stays at or below this many seconds.")


class ErrorRate(ForDuration):
    ratio: float = Field(0.05, gt=0, lt=1, description="Share of finished requests that ended in an engine error.")


class CacheWarmup(PluginSettings):
    deadline: str = Field("2h", pattern=_DURATION, description="A DataLoad warm-up Job not succeeded this long after its creation is late.")


class Scraper(PluginSettings):
    namespace: str = Field("monitoring", min_length=1, description="Namespace of the Prometheus pods.")
    pod_labels: dict[str, str] = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "prometheus"},
        description="Labels of the Prometheus pods (the Prometheus Operator sets app.kubernetes.io/name: prometheus).",
    )


class Dashboard(PluginSettings):
    enabled: bool = Field(True, description="Give this model a row in the stack's dashboard.")
    kind: Literal["ConfigMap", "GrafanaDashboard"] = Field(
        "ConfigMap",
        description="ConfigMap for the Grafana sidecar (kube-prometheus-stack), or a grafana-operator GrafanaDashboard.",
    )
    labels: dict[str, str] = Field(
        default_factory=lambda: {"grafana_dashboard": "1"},
        description="Labels of the dashboard object: for a ConfigMap, what the Grafana sidecar watches for.",
    )
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations of the object (e.g. the sidecar's folder annotation).")
    instance_selector: dict[str, str] = Field(
        default_factory=lambda: {"dashboards": "grafana"},
        description="GrafanaDashboard only: labels of the Grafana instances (grafana-operator) that import it.",
    )
    folder: Optional[str] = Field(None, min_length=1, description="GrafanaDashboard only: the Grafana folder to put it in.")


class MonitoringSettings(PluginSettings):
    scrape: Literal["PodMonitor", "ServiceMonitor"] = Field(
        "PodMonitor", description="PodMonitor scrapes pods directly; ServiceMonitor adds a headless Service `<model>-metrics`."
    )
    interval: str = Field("30s", pattern=_DURATION, description="Scrape interval.")
    ray_metrics: bool = Field(
        True,
        description="With the Ray launcher, also scrape Ray's metrics port on every member. Ray serves it only "
        "when its dashboard agent can load the reporter (ray[default]: opencensus, aiohttp, ...).",
    )
    rate_window: str = Field("5m", pattern=_DURATION, description="Window of rate() in latency and error-rate alerts.")
    object_labels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels on the monitors and rules (e.g. `release: kube-prometheus-stack`, what Prometheus selects)."
    )
    stack: Optional[str] = Field(None, description="Value of the `stack` label on every scraped series; default: the namespace.")
    runbook_url: Optional[str] = Field(None, description="Base URL of the runbook; each alert links `<url>#<alert name in lower case>`.")
    alerts: dict[str, bool] = Field(default_factory=dict, description="Turn alerts off (or back on) by name.")
    not_serving: NotServing = Field(default_factory=NotServing)
    restart_loop: RestartLoop = Field(default_factory=RestartLoop)
    requests_waiting: RequestsWaiting = Field(default_factory=RequestsWaiting)
    kv_cache_usage: KvCacheUsage = Field(default_factory=KvCacheUsage)
    time_to_first_token: LatencyObjective = Field(default_factory=lambda: LatencyObjective(quantile=0.9, seconds=2))
    request_latency: LatencyObjective = Field(default_factory=lambda: LatencyObjective(quantile=0.9, seconds=60))
    error_rate: ErrorRate = Field(default_factory=ErrorRate)
    cache_warmup: CacheWarmup = Field(default_factory=CacheWarmup)
    scraper: Scraper = Field(default_factory=Scraper)
    dashboard: Dashboard = Field(default_factory=Dashboard)

    @field_validator("alerts")
    @classmethod
    def _known_alerts(cls, alerts: dict[str, bool]) -> dict[str, bool]:
        unknown = sorted(set(alerts) - set(ALERTS))
        if unknown:
            raise ValueError(f"unknown alert(s) {', '.join(unknown)}; valid: {', '.join(ALERTS)}")
        return alerts

    def enabled(self, alert: str) -> bool:
        return self.alerts.get(alert, True)


# ------------------------------------------------------------------ context


def _pods_regex(plan: ModelPlan, roles: Iterable[str] = MEMBER_ROLES) -> str:
    """The pod names of the model's groups, as its workload names them.

    statefulsets: `<model>-head-<g>` and `<model>-worker-<k>`. leaderworkerset:
    the leader of group g is `<lws>-<g>`, its workers `<lws>-<g>-<i>` (i >= 1).
    """
    roles = tuple(roles)
    if plan.workload == LWS_WORKLOAD:
        lws = plan.names.group
        shapes = {"head": f"{lws}-[0-9]+", "worker": f"{lws}-[0-9]+-[0-9]+"}
        return "|".join(shapes[role] for role in roles)
    names = [plan.names.head if role == "head" else plan.names.worker for role in roles]
    return f"({'|'.join(names)})-[0-9]+"


def _head_statefulset(plan: ModelPlan) -> str:
    """The StatefulSet of the heads: one pod per group (LWS names its leader StatefulSet after itself)."""
    return plan.names.group if plan.workload == LWS_WORKLOAD else plan.names.head


def _fetch_jobs(plan: ModelPlan) -> list[str]:
    """The Jobs that fill the weights claim, as the storage plugin planned them."""
    return [o.name for o in (plan.weights.objects if plan.weights else ()) if o.kind == "Job"]


def _warmup_jobs(plan: ModelPlan) -> list[str]:
    """Fluid runs each DataLoad as the Job `<dataload>-loader-job` (its helm release `<name>-loader`)."""
    return [f"{load.name}-loader-job" for load in (plan.cache.loads if plan.cache else ())]


def model_context(settings: MonitoringSettings, plan: ModelPlan) -> dict[str, Any]:
    """What the rule and dashboard templates need to know about one model."""
    return {
        "model": plan.name,
        "namespace": plan.namespace,
        "selector": f'namespace="{plan.namespace}", model="{plan.name}"',
        "head_statefulset": _head_statefulset(plan),
        "pods": _pods_regex(plan),
        "head_pods": _pods_regex(plan, ("head",)),
        "worker_pods": _pods_regex(plan, ("worker",)),
        "gpu_resource": prometheus_label_name(plan.node_pool.gpu_resource),
        "groups": plan.replicas,
        "planned_gpus": plan.total_gpus,
        "planned_pods": plan.gpus.pods * plan.replicas,
        "uses_ray": bool(plan.entrypoints and plan.entrypoints.uses_ray),
        "scrape_ray": bool(plan.entrypoints and plan.entrypoints.uses_ray) and settings.ray_metrics,
        "fetch_jobs": "|".join(_fetch_jobs(plan)),
        "warmup_jobs": "|".join(_warmup_jobs(plan)),
    }


def _prometheus_template(expression: str) -> str:
    """A Prometheus template placeholder (`{{ $labels.pod }}`) written from a Jinja2 template."""
    return "{{ " + expression + " }}"


# ------------------------------------------------------------------ rules


def alert_rules(settings: MonitoringSettings, plan: ModelPlan) -> list[dict[str, Any]]:
    """The model's alerting rules as data: the template's rules minus those switched off or with nothing to watch."""
    context = model_context(settings, plan)
    text = render_template(
        "monitoring/rules.yaml.j2",
        **context,
        settings=settings,
        rate_window=settings.rate_window,
        warmup_deadline_seconds=duration_seconds(settings.cache_warmup.deadline),
        prom=_prometheus_template,
    )
    rules = yaml.safe_load(text)
    watched = {
        "VllmWeightsFetchFailed": bool(context["fetch_jobs"]),
        "VllmCacheNotWarmed": bool(context["warmup_jobs"]),
    }
    kept = [r for r in rules if settings.enabled(r["alert"]) and watched.get(r["alert"], True)]
    for rule in kept:
        rule["labels"] = {**rule.get("labels", {}), "model": plan.name}
        if settings.runbook_url:
            rule["annotations"]["runbook_url"] = f"{settings.runbook_url}#{rule['alert'].lower()}"
    return kept


def prometheus_rule(settings: MonitoringSettings, plan: ModelPlan) -> Optional[ObjectSpec]:
    rules = alert_rules(settings, plan)
    if not rules:
        return None
    groups = [{"name": f"vllm-fleet.{plan.namespace}.{plan.name}", "rules": rules}]
    return ObjectSpec(
        MONITORING_API,
        "PrometheusRule",
        f"{plan.name}-alerts",
        {"spec": {"groups": groups}},
        labels={**plan.labels("monitoring"), **settings.object_labels},
    )


# ------------------------------------------------------------------ scraping


def _pod_label(name: str) -> str:
    return "__meta_kubernetes_pod_label_" + prometheus_label_name(name)


def group_relabelings(plan: ModelPlan) -> list[dict[str, Any]]:
    """The `group` label (the group replica's index, "0".."replicas-1") from labels the pods already carry.

    leaderworkerset: its group-index label, on leader and workers. statefulsets:
    the pod-index label; a head's ordinal is its group, worker ordinal k is in
    group k // workers-per-group, written out as one ordinal list per group
    (relabeling has no arithmetic). Another workload gets no `group` label.
    """
    if plan.workload == LWS_WORKLOAD:
        return [{"sourceLabels": [_pod_label(LWS_GROUP_LABEL)], "regex": "(.+)", "targetLabel": "group"}]
    if plan.workload != STATEFULSETS_WORKLOAD:
        return []
    source = [_pod_label("app.kubernetes.io/component"), _pod_label(POD_INDEX_LABEL)]
    rules = [{"sourceLabels": list(source), "regex": "head;([0-9]+)", "targetLabel": "group"}]
    workers = plan.gpus.workers
    for group in range(plan.replicas if workers else 0):
        ordinals = "|".join(str(k) for k in range(group * workers, (group + 1) * workers))
        rules.append({"sourceLabels": list(source), "regex": f"worker;({ordinals})", "targetLabel": "group", "replacement": str(group)})
    return rules


def target_relabelings(settings: MonitoringSettings, plan: ModelPlan) -> list[dict[str, Any]]:
    """Labels on every scraped series: stack, model, group replica and role."""
    return [
        {"targetLabel": "stack", "replacement": settings.stack or plan.namespace},
        {"sourceLabels": [_pod_label("app.kubernetes.io/instance")], "targetLabel": "model"},
        *group_relabelings(plan),
        {"sourceLabels": [_pod_label("app.kubernetes.io/component")], "targetLabel": "role"},
    ]


def _keep_roles(roles: Iterable[str]) -> dict[str, Any]:
    return {
        "action": "keep",
        "sourceLabels": [_pod_label("app.kubernetes.io/component")],
        "regex": "|".join(roles),
    }


def _ray_address() -> list[dict[str, Any]]:
    """Points a port-less target at Ray's metrics port (the members don't declare it as a container port).

    Prometheus gives a container without declared ports one port-less target,
    and one per declared port otherwise; both become `<pod IP>:<port>` here
    (targets that end up identical are merged), init containers are dropped.
    """
    port = RAY_PORTS["metrics_export"]
    return [
        {"action": "keep", "sourceLabels": ["__meta_kubernetes_pod_container_name"], "regex": "vllm"},
        {"action": "drop", "sourceLabels": ["__meta_kubernetes_pod_container_init"], "regex": "true"},
        {"sourceLabels": ["__meta_kubernetes_pod_ip"], "regex": "([^:]+)", "targetLabel": "__address__", "replacement": f"$1:{port}"},
        {"sourceLabels": ["__meta_kubernetes_pod_ip"], "regex": "(.+:.+)", "targetLabel": "__address__", "replacement": f"[$1]:{port}"},
        {"targetLabel": "endpoint", "replacement": RAY_METRICS_PORT_NAME},
    ]


def _member_selector(plan: ModelPlan) -> dict[str, Any]:
    """The group's head and workers, not its fetch Job (which carries the same instance label)."""
    return {
        "matchLabels": selector_labels(plan.name),
        "matchExpressions": [{"key": "app.kubernetes.io/component", "operator": "In", "values": list(MEMBER_ROLES)}],
    }


def pod_monitor(settings: MonitoringSettings, plan: ModelPlan) -> ObjectSpec:
    labels = target_relabelings
    endpoints = [{"port": API_PORT_NAME, "path": "/metrics", "interval": settings.interval, "relabelings": labels(settings, plan)}]
    if model_context(settings, plan)["scrape_ray"]:
        endpoints.append({"path": "/metrics", "interval": settings.interval, "relabelings": _ray_address() + labels(settings, plan)})
    return ObjectSpec(
        MONITORING_API,
        "PodMonitor",
        f"{plan.name}-metrics",
        {"spec": {"selector": _member_selector(plan), "podMetricsEndpoints": endpoints}},
        labels={**plan.labels("monitoring"), **settings.object_labels},
    )


def metrics_service(plan: ModelPlan, scrape_ray: bool) -> ObjectSpec:
    """A headless Service over the whole group, for ServiceMonitor: ports by number, unready members included."""
    ports = [{"name": VLLM_METRICS_PORT_NAME, "port": plan.api_port, "targetPort": plan.api_port, "protocol": "TCP"}]
    if scrape_ray:
        port = RAY_PORTS["metrics_export"]
        ports.append({"name": RAY_METRICS_PORT_NAME, "port": port, "targetPort": port, "protocol": "TCP"})
    spec = {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": selector_labels(plan.name), "ports": ports}
    return ObjectSpec("v1", "Service", f"{plan.name}-metrics", {"spec": spec}, labels=plan.labels("metrics"))


def service_monitor(settings: MonitoringSettings, plan: ModelPlan, scrape_ray: bool) -> ObjectSpec:
    labels = target_relabelings
    endpoints = [{
        "port": VLLM_METRICS_PORT_NAME, "path": "/metrics", "interval": settings.interval,
        "relabelings": [_keep_roles(["head"]), *labels(settings, plan)],
    }]
    if scrape_ray:
        endpoints.append({
            "port": RAY_METRICS_PORT_NAME, "path": "/metrics", "interval": settings.interval,
            "relabelings": [_keep_roles(MEMBER_ROLES), *labels(settings, plan)],
        })
    selector = {"matchLabels": selector_labels(plan.name, "metrics")}
    return ObjectSpec(
        MONITORING_API,
        "ServiceMonitor",
        f"{plan.name}-metrics",
        {"spec": {"selector": selector, "endpoints": endpoints}},
        labels={**plan.labels("monitoring"), **settings.object_labels},
    )


def scraper_policy(settings: MonitoringSettings, plan: ModelPlan, scrape_ray: bool) -> ObjectSpec:
    """Admits the scraper, and only it, to the metrics ports of the members (policies add up; the group's stays)."""
    scraper = network_peer(settings.scraper.namespace, settings.scraper.pod_labels)
    ports = [{"port": plan.api_port, "protocol": "TCP"}]
    if scrape_ray:
        ports.append({"port": RAY_PORTS["metrics_export"], "protocol": "TCP"})
    spec = {
        "podSelector": _member_selector(plan),
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [scraper], "ports": ports}],
    }
    return ObjectSpec("networking.k8s.io/v1", "NetworkPolicy", f"{plan.name}-metrics", {"spec": spec}, labels=plan.labels("metrics"))


# ------------------------------------------------------------------ dashboard


def stack_dashboard_json(plans: list[ModelPlan], settings_by_model: Mapping[str, MonitoringSettings], title: str) -> str:
    """The Grafana dashboard (JSON text) with one row per model whose dashboard is enabled."""
    rows, top = [], 0
    for plan in plans:
        settings = settings_by_model[plan.name]
        if not settings.dashboard.enabled:
            continue
        rows.append({**model_context(settings, plan), "y": top, "first_id": 100 * (len(rows) + 1)})
        top += DASHBOARD_ROW_HEIGHT
    text = render_template("monitoring/dashboard.json.j2", title=title, uid=_dashboard_uid(title), rows=rows)
    return json.dumps(json.loads(text), indent=1, sort_keys=True)



def _dashboard_uid(title: str) -> str:
    return re.sub(r"[^a-zA-Z0-9-]+", "-", title.lower()).strip("-")[:40]


def _stack_dashboard_settings(shown: list[ModelPlan], settings_by_model: Mapping[str, MonitoringSettings]) -> Dashboard:
    """The one dashboard object's settings: every model that has a row must agree on them."""
    first = settings_by_model[shown[0].name].dashboard
    for plan in shown[1:]:
        other = settings_by_model[plan.name].dashboard
        if other != first:
            differ = sorted(k for k in Dashboard.model_fields if getattr(other, k) != getattr(first, k))
            raise PlanError(
                ("dashboard",),
                f"models {shown[0].name!r} and {plan.name!r} set the stack's one dashboard differently "
                f"({', '.join(differ)}); give both the same `dashboard` settings",
            )
    return first


def stack_dashboard(
    plans: list[ModelPlan], settings_by_model: Mapping[str, MonitoringSettings], stack: Optional[str] = None
) -> Optional[ObjectSpec]:
    """The stack's dashboard: a ConfigMap the Grafana sidecar loads, or a GrafanaDashboard; None when no model wants one."""
    shown = [p for p in plans if settings_by_model[p.name].dashboard.enabled]
    if not shown:
        return None
    settings = _stack_dashboard_settings(shown, settings_by_model)
    name = stack or shown[0].namespace
    dashboard = stack_dashboard_json(plans, settings_by_model, f"vLLM fleet {name}")
    # The stack's object, not one model's: labelled like the stack's API-key Secret.
    labels = {**common_labels("fleet", shown[0].image, "dashboard"), **settings.labels}
    if settings.kind == "ConfigMap":
        body: dict[str, Any] = {"data": {DASHBOARD_KEY: dashboard}}
        return ObjectSpec("v1", "ConfigMap", "vllm-fleet-dashboard", body, labels=labels, annotations=dict(settings.annotations))
    spec: dict[str, Any] = {"instanceSelector": {"matchLabels": dict(settings.instance_selector)}, "json": dashboard}
    if settings.folder:
        spec["folder"] = settings.folder
    return ObjectSpec(GRAFANA_API, "GrafanaDashboard", "vllm-fleet", {"spec": spec}, labels=labels, annotations=dict(settings.annotations))


# ------------------------------------------------------------------ the add-on


class MonitoringAddon:
    """Scraping, alerts and the scraper's NetworkPolicy for one model (the dashboard is per stack)."""

    kind: ClassVar[str] = "addon"
    name: ClassVar[str] = "monitoring"
    Settings: ClassVar[type[MonitoringSettings]] = MonitoringSettings

    def objects(self, settings: MonitoringSettings, plan: ModelPlan) -> tuple[ObjectSpec, ...]:
        scrape_ray = model_context(settings, plan)["scrape_ray"]
        if settings.scrape == "PodMonitor":
            scraping: tuple[ObjectSpec, ...] = (pod_monitor(settings, plan),)
        else:
            scraping = (metrics_service(plan, scrape_ray), service_monitor(settings, plan, scrape_ray))
        rule = prometheus_rule(settings, plan)
        return (*scraping, *((rule,) if rule else ()), scraper_policy(settings, plan, scrape_ray))

    def stack_objects(self, plans: list[ModelPlan], settings_by_model: Mapping[str, MonitoringSettings]) -> tuple[ObjectSpec, ...]:
        """The stack's one dashboard, with a row per model that names this add-on (and keeps its dashboard on)."""
        shown = [p for p in plans if settings_by_model[p.name].dashboard.enabled]
        stack = settings_by_model[shown[0].name].stack if shown else None
        dashboard = stack_dashboard(plans, settings_by_model, stack)
        return (dashboard,) if dashboard else ()


__all__ = ["ALERTS", "MonitoringAddon", "MonitoringSettings", "alert_rules", "stack_dashboard", "stack_dashboard_json"]
