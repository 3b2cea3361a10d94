"""The routing add-on: an HTTPRoute, and with replicas an InferencePool over the API pods and its endpoint picker."""

from __future__ import annotations


import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from vllm_fleet.builtin.routing import RoutingAddon, RoutingSettings, api_pod_labels, picker_config
from vllm_fleet.config import load_fleet
from vllm_fleet.constants import EPP_GRPC_PORT, EPP_IMAGE
from vllm_fleet.errors import ConfigError
from vllm_fleet.plugins import Registry
from vllm_fleet.pod_template import pod_template

from .dataplane_support import config, model, plan
from .monitoring_support import full_object
from .monitoring_support import K8S_VERSION, validate_crs

GATEWAY = {"name": "inference-gw", "namespace": "gateways"}


def _plan(replicas: int = 2, workload: str = "leaderworkerset", **fields):
    routing = {"type": "routing", "gateway": GATEWAY, **fields.pop("routing", {})}
    return plan(config(model(replicas=replicas, workload={"type": workload}, addons=[routing], **fields)))


def _objects(planned, settings: dict | None = None):
    return RoutingAddon().objects(RoutingSettings.model_validate({"gateway": GATEWAY, **(settings or {})}), planned)


def _by_kind(objects):
    found: dict[str, list] = {}
    for spec in objects:
        found.setdefault(spec.kind, []).append(spec)
    return found


# ------------------------------------------------------------------ what it plans


def test_with_replicas_the_route_targets_an_inference_pool_and_its_picker():
    planned = _plan()
    kinds = _by_kind(planned.addon_groups[0].objects)
    assert sorted(kinds) == sorted(
        ["InferencePool", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Deployment", "Service", "NetworkPolicy", "HTTPRoute"]
    )
    pool = kinds["InferencePool"][0].body["spec"]
    assert pool["targetPorts"] == [{"number": planned.api_port}]
    assert pool["endpointPickerRef"] == {"name": "llm-epp", "port": {"number": EPP_GRPC_PORT}, "failureMode": "FailOpen"}
    (route,) = kinds["HTTPRoute"]
    assert route.body["spec"]["rules"][0]["backendRefs"] == [
        {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "llm"}
    ]
    assert route.body["spec"]["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "inference-gw", "namespace": "gateways"}
    ]
    (service,) = kinds["Service"]
    assert service.body["spec"]["ports"][0]["port"] == EPP_GRPC_PORT and service.name == "llm-epp"
    container = kinds["Deployment"][0].body["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == EPP_IMAGE
    assert container["args"][:6] == ["--pool-name", "llm", "--pool-namespace", "llm-test", "--pool-group", "inference.networking.k8s.io"]


def test_one_replica_routes_to_the_plain_api_service_with_no_pool():
    planned = _plan(replicas=1, workload="statefulsets")
    kinds = _by_kind(planned.addon_groups[0].objects)
    assert sorted(kinds) == ["HTTPRoute", "NetworkPolicy"]
    backend = kinds["HTTPRoute"][0].body["spec"]["rules"][0]["backendRefs"]
    assert backend == [{"group": "", "kind": "Service", "name": "llm", "port": 8000}]
    # Only the gateway is admitted: there is no picker to admit.
    assert len(kinds["NetworkPolicy"][0].body["spec"]["ingress"][0]["from"]) == 1


def test_on_leaderworkerset_the_pool_selects_leaders_only():
    """The pool's selector matches the leader template's pods and no worker template's pods."""
    planned = _plan()
    selector = api_pod_labels(planned)
    assert selector["leaderworkerset.sigs.k8s.io/worker-index"] == "0"
    lws = planned.workload_objects[0].body["spec"]["leaderWorkerTemplate"]
    # LWS adds worker-index to every pod: "0" on the leader, 1.. on workers.
    leader = {**lws["leaderTemplate"]["metadata"]["labels"], "leaderworkerset.sigs.k8s.io/worker-index": "0"}
    worker = {**lws["workerTemplate"]["metadata"]["labels"], "leaderworkerset.sigs.k8s.io/worker-index": "1"}
    assert selector.items() <= leader.items()
    assert not selector.items() <= worker.items()


def test_on_statefulsets_the_pool_selects_the_head_statefulset_pods_only():
    planned = _plan(workload="statefulsets")
    selector = api_pod_labels(planned)
    heads, workers = (pod_template(planned, role)["metadata"]["labels"] for role in planned.roles)
    assert selector.items() <= heads.items() and not selector.items() <= workers.items()


def test_picker_pods_are_not_selected_by_the_models_group_objects():
    """The group Service, NetworkPolicy and PDB select name=vllm + instance: the EPP must not join the group."""
    planned = _plan()
    deployment = _by_kind(planned.addon_groups[0].objects)["Deployment"][0]
    labels = deployment.body["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] != "vllm"


def test_the_api_port_admits_the_gateway_and_the_picker_and_nothing_more():
    planned = _plan()
    policies = {p.name: p.body["spec"] for p in _by_kind(planned.addon_groups[0].objects)["NetworkPolicy"]}
    api = policies["llm-routing"]
    assert api["podSelector"]["matchLabels"] == api_pod_labels(planned)
    assert api["ingress"][0]["ports"] == [{"port": 8000, "protocol": "TCP"}]
    gateway, picker = api["ingress"][0]["from"]
    assert gateway == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateways"}},
        "podSelector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name": "inference-gw"}},
    }
    assert picker["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "endpoint-picker"
    epp = policies["llm-epp"]
    assert epp["ingress"] == [{"from": [gateway], "ports": [{"port": EPP_GRPC_PORT, "protocol": "TCP"}]}]


def test_gateway_pod_labels_and_listener_can_be_set():
    planned = _plan()
    settings = {"gateway": {**GATEWAY, "sectionName": "https", "podLabels": {"app": "envoy"}}, "hostnames": ["llm.example.com"]}
    kinds = _by_kind(_objects(planned, settings))
    route = kinds["HTTPRoute"][0].body["spec"]
    assert route["parentRefs"][0]["sectionName"] == "https" and route["hostnames"] == ["llm.example.com"]
    peer = kinds["NetworkPolicy"][0].body["spec"]["ingress"][0]["from"][0]
    assert peer["podSelector"] == {"matchLabels": {"app": "envoy"}}


def test_picker_scorers_follow_the_settings_and_a_zero_weight_drops_one():
    text = picker_config(RoutingSettings.model_validate({"gateway": GATEWAY, "picker": {"scorers": {"prefixCache": 0, "queue": 5}}}))
    config_file = yaml.safe_load(text)
    profile = config_file["schedulingProfiles"][0]["plugins"]
    assert profile == [{"pluginRef": "queue-scorer", "weight": 5}, {"pluginRef": "kv-cache-utilization-scorer", "weight": 2}]
    assert "prefix-cache-scorer" not in {p["type"] for p in config_file["plugins"]}


def test_more_pickers_elect_a_leader_and_may_hold_a_lease():
    planned = _plan()
    kinds = _by_kind(_objects(planned, {"picker": {"replicas": 2}}))
    container = kinds["Deployment"][0].body["spec"]["template"]["spec"]["containers"][0]
    assert "--ha-enable-leader-election" in container["args"]
    assert container["readinessProbe"]["grpc"]["service"] == "readiness"
    assert any("leases" in rule["resources"] for rule in kinds["Role"][0].body["rules"])
    single = _by_kind(_objects(planned))
    assert not any("leases" in rule["resources"] for rule in single["Role"][0].body["rules"])


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "settings, key",
    [
        ({}, "gateway"),
        ({"gateway": {"name": "Bad_Name"}}, "name"),
        ({"gateway": GATEWAY, "hostnames": ["UPPER.example.com"]}, "hostnames"),
        ({"gateway": GATEWAY, "requestTimeout": "5 minutes"}, "requestTimeout"),
        ({"gateway": GATEWAY, "picker": {"failureMode": "Open"}}, "failureMode"),
        ({"gateway": GATEWAY, "picker": {"replicas": 0}}, "replicas"),
    ],
)
def test_bad_settings_name_their_key(settings, key):
    with pytest.raises(ValidationError) as caught:
        RoutingSettings.model_validate(settings)
    assert key in str(caught.value)


@pytest.mark.parametrize(
    "routing, drain, key",
    [
        ({"requestTimeout": "10m"}, {}, "models[0].addons[0].requestTimeout"),
        ({"requestTimeout": "0s"}, {}, "models[0].addons[0].requestTimeout"),
        ({}, {"timeoutSeconds": 60}, "models[0].addons[0].requestTimeout"),
    ],
)
def test_a_route_that_allows_requests_longer_than_the_drain_is_a_config_error(routing, drain, key):
    raw = config(model(replicas=2, drain=drain, addons=[{"type": "routing", "gateway": GATEWAY, **routing}]))
    with pytest.raises(ConfigError) as caught:
        from vllm_fleet.plan import plan_fleet

        plan_fleet(load_fleet(raw, Registry.discover()))
    assert key in str(caught.value) and "drain.timeoutSeconds" in str(caught.value)


# ------------------------------------------------------------------ validity


def _all_objects():
    pooled = _plan()
    objects = list(pooled.addon_groups[0].objects) + list(_objects(pooled, {"picker": {"replicas": 3}, "hostnames": ["*.example.com"]}))
    objects += list(_plan(replicas=1, workload="statefulsets").addon_groups[0].objects)
    return [full_object(spec, "llm-test") for spec in objects]


def test_custom_resources_match_the_upstream_crd_schemas(tmp_path):
    objects = _all_objects()
    custom = [o for o in objects if o["kind"] in ("InferencePool", "HTTPRoute")]
    for index, obj in enumerate(custom):
        (tmp_path / f"{index:02d}-{obj['kind']}.yaml").write_text(yaml.safe_dump(obj))
    result = validate_crs(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(custom)} checked, 0 failed" in result.stdout


def test_the_crd_check_catches_a_pool_without_target_ports(tmp_path):
    pool = next(o for o in _all_objects() if o["kind"] == "InferencePool")
    del pool["spec"]["targetPorts"]
    (tmp_path / "pool.yaml").write_text(yaml.safe_dump(pool))
    result = validate_crs(tmp_path)
    assert result.returncode == 1 and "FAIL InferencePool/llm" in result.stdout


def test_core_objects_pass_strict_kubernetes_validation():
    core = [o for o in _all_objects() if o["kind"] not in ("InferencePool", "HTTPRoute")]
    assert {o["kind"] for o in core} == {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Deployment", "Service", "NetworkPolicy"}
    for obj in core:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_picker_gets_its_api_token_by_an_explicit_mount_only():
    """Automounting stays off (policy no-service-account-token); the EPP still finds token, CA and namespace."""
    deployment = _by_kind(_plan().addon_groups[0].objects)["Deployment"][0]
    pod = deployment.body["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    [volume] = [v for v in pod["volumes"] if v["name"] == "api-token"]
    paths = {item.get("path") or item.get("items", [{}])[0].get("path") for source in volume["projected"]["sources"] for item in source.values()}
    assert paths == {"token", "ca.crt", "namespace"}
    [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "api-token"]
    assert mount["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"


def test_prod_serves_its_multi_node_model_from_leaderworkerset_groups_behind_a_pool(stack_renders):
    from .conftest import objects_of

    prod = stack_renders["prod"]
    lws = objects_of(prod, "LeaderWorkerSet")["llama-405b-group"]
    assert 2 <= lws["spec"]["replicas"] <= 4 and lws["spec"]["leaderWorkerTemplate"]["size"] == 2
    pool = objects_of(prod, "InferencePool")["llama-405b"]
    leader_labels = {**lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["metadata"]["labels"],
                     "leaderworkerset.sigs.k8s.io/worker-index": "0"}
    assert pool["spec"]["selector"]["matchLabels"].items() <= leader_labels.items()
    route = objects_of(prod, "HTTPRoute")["llama-405b"]
    assert route["spec"]["rules"][0]["backendRefs"][0]["kind"] == "InferencePool"
    assert objects_of(prod, "Deployment")["llama-405b-epp"]["spec"]["template"]["spec"]["containers"][0]["image"] == EPP_IMAGE
