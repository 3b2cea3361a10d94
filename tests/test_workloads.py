"""Workload plugins and group replicas: one plan per role, run by StatefulSets or one LeaderWorkerSet.

The membership script (templates/workload/member.sh.j2) is run for real with
the env each pod gets, expanded the way the kubelet does (`$(VAR)` sees only
variables defined earlier in the same container; LWS puts its own first).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, Optional

import kubernetes_validate
import pytest

from vllm_fleet.cli import plan_table
from vllm_fleet.constants import ENTRYPOINT_DIR
from vllm_fleet.render import write_render
from .dataplane_support import as_pod, config, issues, model, named, of_kind, one_issue, plan, pod_templates, render
from .monitoring_support import K8S_VERSION

LWS = {"type": "leaderworkerset"}


def groups_stack() -> dict[str, Any]:
    """A test-only stack: TP=16 on 8-GPU nodes in two groups on each workload, native too, and one-pod groups."""
    return config(
        model(name="lws", workload={**LWS, "exclusiveTopology": "network.example.com/nvlink-domain"}, replicas=2),
        model(name="sts", replicas=2),
        model(name="nat", launcher="native", workload=LWS, replicas=2),
        model(name="wide", parallelism={"tensor": 8, "pipeline": 3}, replicas=3),
        model(name="solo", parallelism={"tensor": 2}, workload=LWS, replicas=3),
    )


@pytest.fixture(scope="module")
def groups(tmp_path_factory):
    return render(tmp_path_factory.mktemp("groups"), groups_stack(), stack="groups")


def write_groups_render(out_dir: str) -> None:
    """Renders the test-only groups stack, for validate_crs.py in .ci/run (the LeaderWorkerSet CRD)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        write_render(render(Path(folder), groups_stack(), stack="groups"), out_dir)


def _gpus(template: dict[str, Any]) -> int:
    return template["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]


def _container(template: dict[str, Any]) -> dict[str, Any]:
    return template["spec"]["containers"][0]


# ------------------------------------------------------------------ the plan


def test_a_plan_per_role_with_replicas_and_exact_gpus():
    planned = plan(config(model(replicas=2)))
    head, worker = planned.roles
    assert (head.role, head.pods_per_group, head.replicas, head.gpus_per_pod, head.serves_api) == ("head", 1, 2, 8, True)
    assert (worker.role, worker.pods, worker.gpus) == ("worker", 2, 16)
    assert head.gpus + worker.gpus == 2 * 16
    assert head.resources["limits"]["nvidia.com/gpu"] == 8


def test_replicas_must_be_a_positive_integer():
    assert one_issue(config(model(replicas=0)), "vllm-fleet:models[0].replicas").startswith("must be a positive integer")


def test_unknown_workload_lists_the_available_ones():
    message = one_issue(config(model(workload="deployment")), "vllm-fleet:models[0].workload.type")
    assert "available: leaderworkerset, statefulsets" in message


def test_lws_settings_are_checked_with_key_paths():
    found = issues(config(model(workload={**LWS, "restartPolicy": "Always"})))
    assert any(line.startswith("vllm-fleet:models[0].workload.restartPolicy: ") for line in found), found
    stuck = issues(config(model(workload={**LWS, "maxUnavailable": 0, "maxSurge": "0%"})))
    assert any(line.startswith("vllm-fleet:models[0].workload: ") and "can't both be 0" in line for line in stuck), stuck


def test_leader_ready_is_refused_for_multi_pod_groups():
    message = one_issue(config(model(workload={**LWS, "startupPolicy": "LeaderReady"})), "vllm-fleet:models[0].workload.startupPolicy")
    assert "never start the workers" in message
    assert plan(config(model(parallelism={"tensor": 2}, workload={**LWS, "startupPolicy": "LeaderReady"}))).workload_objects


def test_a_stack_default_workload_applies_unless_a_model_names_its_own():
    raw = config(model(), model(name="own", workload="statefulsets"), defaults={"workload": LWS})
    default, own = (p.workload for p in plan_all(raw))
    assert (default, own) == ("leaderworkerset", "statefulsets")


def plan_all(raw):
    from .dataplane_support import plans

    return plans(raw)


# ------------------------------------------------------------ LeaderWorkerSet


def test_lws_is_one_object_with_size_replicas_and_both_templates(groups):
    lws = named(groups, "LeaderWorkerSet", "lws-group")
    assert not [o for o in of_kind(groups, "StatefulSet") if o["metadata"]["name"].startswith("lws-")]
    spec = lws["spec"]
    template = spec["leaderWorkerTemplate"]
    assert (spec["replicas"], template["size"]) == (2, 2)
    assert template["restartPolicy"] == "RecreateGroupOnPodRestart"
    assert spec["startupPolicy"] == "LeaderCreated"
    assert spec["rolloutStrategy"] == {"type": "RollingUpdate", "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0}}
    assert spec["networkConfig"] == {"subdomainPolicy": "Shared"}
    assert lws["metadata"]["annotations"]["leaderworkerset.sigs.k8s.io/exclusive-topology"] == "network.example.com/nvlink-domain"
    leader, worker = template["leaderTemplate"], template["workerTemplate"]
    # 32 GPUs: two groups of a leader and one worker, 8 each.
    assert spec["replicas"] * (_gpus(leader) + (template["size"] - 1) * _gpus(worker)) == 32
    assert leader["metadata"]["labels"]["app.kubernetes.io/component"] == "head"
    assert _container(leader)["ports"][0]["name"] == "http" and "ports" not in _container(worker)


def test_lws_pods_get_the_core_pod_settings(groups):
    """Both workloads build pods with the one pod_template: same security context and volumes as a StatefulSet."""
    lws_leader = named(groups, "LeaderWorkerSet", "lws-group")["spec"]["leaderWorkerTemplate"]["leaderTemplate"]
    sts_head = named(groups, "StatefulSet", "sts-head")["spec"]["template"]
    assert lws_leader["spec"]["securityContext"] == sts_head["spec"]["securityContext"]
    assert _container(lws_leader)["securityContext"] == _container(sts_head)["securityContext"]
    assert [v["name"] for v in lws_leader["spec"]["volumes"]] == [v["name"] for v in sts_head["spec"]["volumes"]]


def test_one_pod_groups_on_lws_have_only_a_worker_template(groups):
    template = named(groups, "LeaderWorkerSet", "solo-group")["spec"]["leaderWorkerTemplate"]
    assert template["size"] == 1 and "leaderTemplate" not in template
    assert _container(template["workerTemplate"])["command"] == ["/bin/bash", f"{ENTRYPOINT_DIR}/head.sh"]


def test_the_plan_table_shows_groups_and_every_gpu(groups):
    table = plan_table(groups)
    row = next(line for line in table.splitlines() if line.strip().startswith("lws "))
    assert re.search(r"lws\s+16×1\s+2\s+2\s+2×8\s+32 \(2×16\)\s+leaderworkerset\s+ray", row), row
    assert groups.outputs["models"]["lws"]["totalGpus"] == 32 and groups.outputs["models"]["lws"]["groupGpus"] == 16
    assert groups.outputs["models"]["wide"]["totalGpus"] == 72


def test_group_objects_pass_strict_kubernetes_validation(groups):
    for obj in groups.objects():
        if obj["apiVersion"] in ("v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1"):
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    lws_pods = pod_templates(of_kind(groups, "LeaderWorkerSet"))
    assert lws_pods
    for _, template in lws_pods:
        kubernetes_validate.validate(as_pod(template), K8S_VERSION, strict=True)


# --------------------------------------------------------------- StatefulSets


def test_statefulset_groups_scale_heads_and_workers_together(groups):
    head, worker = named(groups, "StatefulSet", "wide-head"), named(groups, "StatefulSet", "wide-worker")
    # TP=8×PP=3 on 8-GPU nodes: 3 pods per group, 3 groups: 3 heads and 6 workers.
    assert (head["spec"]["replicas"], worker["spec"]["replicas"]) == (3, 6)
    assert head["spec"]["replicas"] * _gpus(head["spec"]["template"]) + worker["spec"]["replicas"] * _gpus(worker["spec"]["template"]) == 72


def test_one_api_service_and_one_group_policy_cover_every_replica(groups):
    api = named(groups, "Service", "sts")
    assert api["spec"]["selector"] == {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "sts", "app.kubernetes.io/component": "head"}
    everyone = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "sts"}
    assert named(groups, "PodDisruptionBudget", "sts-group")["spec"]["selector"]["matchLabels"] == everyone
    assert named(groups, "NetworkPolicy", "sts-group")["spec"]["podSelector"]["matchLabels"] == everyone
    # LWS reuses the model's headless group Service: its Shared subdomain has the same name as the LWS.
    assert named(groups, "Service", "lws-group")["spec"]["publishNotReadyAddresses"] is True


def test_one_group_on_statefulsets_keeps_its_fixed_head_address():
    """replicas 1 renders exactly the objects it did before group replicas existed (see tests/snapshots)."""
    worker = next(o for o in plan(config(model())).workload_objects if o.name == "llm-worker")
    env = {e["name"]: e for e in _container(worker.body["spec"]["template"])["env"]}
    assert env["VLLM_FLEET_HEAD_ADDRESS"]["value"] == "llm-head-0.llm-group.llm-test.svc.cluster.local"
    assert "VLLM_FLEET_POD_INDEX" in env and "VLLM_FLEET_MEMBER_ORDINAL" not in env


# ------------------------------------------------- membership, run for real


def kubelet_env(container: dict[str, Any], fields: dict[str, str], injected: Optional[dict[str, str]] = None) -> dict[str, str]:
    """A container's env as the kubelet builds it: injected (LWS) vars first, fieldRefs, `$(VAR)` from earlier ones."""
    env = dict(injected or {})
    for item in container["env"]:
        if "valueFrom" in item:
            source = item["valueFrom"]
            if "fieldRef" not in source:
                continue
            env.setdefault(item["name"], fields[source["fieldRef"]["fieldPath"]])
        elif item["name"] not in (injected or {}):
            env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), item["value"])
    return env


def membership(render_, model_name: str, container: dict[str, Any], env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Runs the container's command with `env` as far as member.sh: what the launcher's script would see."""
    [config_map] = [o for o in of_kind(render_, "ConfigMap") if o["metadata"]["name"] == f"{model_name}-entrypoints"]
    script = tmp_path / "member.sh"
    script.write_text(config_map["data"]["member.sh"])
    command = container["command"]
    assert command[:2] == ["/bin/bash", f"{ENTRYPOINT_DIR}/member.sh"], command
    shown = subprocess.run(["bash", str(script), "env"], env=env, capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in shown.splitlines() if line.startswith("VLLM_FLEET_"))


POD_INDEX = "metadata.labels['apps.kubernetes.io/pod-index']"


def test_every_statefulset_worker_binds_to_its_own_groups_head(groups, tmp_path):
    head_sts, worker_sts = named(groups, "StatefulSet", "wide-head"), named(groups, "StatefulSet", "wide-worker")
    domain = "wide-group.llm-test.svc.cluster.local"
    heads = {}
    for ordinal in range(head_sts["spec"]["replicas"]):
        env = kubelet_env(_container(head_sts["spec"]["template"]), {"status.podIP": "10.0.0.1", "metadata.name": f"wide-head-{ordinal}"})
        heads[ordinal] = env["VLLM_FLEET_HEAD_ADDRESS"]
    assert heads == {g: f"wide-head-{g}.{domain}" for g in range(3)}
    bound = []
    for ordinal in range(worker_sts["spec"]["replicas"]):
        container = _container(worker_sts["spec"]["template"])
        env = kubelet_env(container, {"status.podIP": "10.0.1.1", POD_INDEX: str(ordinal)})
        seen = membership(groups, "wide", container, env, tmp_path)
        bound.append((seen["VLLM_FLEET_HEAD_ADDRESS"], seen["VLLM_FLEET_POD_INDEX"]))
    # Worker ordinal k is worker k % 2 of group k // 2; native node rank = that index + 1.
    assert bound == [(heads[k // 2], str(k % 2)) for k in range(6)]


def test_lws_workers_take_the_leader_address_and_their_index(groups, tmp_path):
    template = named(groups, "LeaderWorkerSet", "nat-group")["spec"]["leaderWorkerTemplate"]
    for group in range(2):
        leader = f"nat-group-{group}.nat-group.llm-test"
        injected = {"LWS_LEADER_ADDRESS": leader, "LWS_GROUP_SIZE": "2"}
        head_env = kubelet_env(_container(template["leaderTemplate"]), {"status.podIP": "10.0.0.1"}, {**injected, "LWS_WORKER_INDEX": "0"})
        assert head_env["VLLM_FLEET_HEAD_ADDRESS"] == leader
        container = _container(template["workerTemplate"])
        env = kubelet_env(container, {"status.podIP": "10.0.0.2"}, {**injected, "LWS_WORKER_INDEX": "1"})
        seen = membership(groups, "nat", container, env, tmp_path)
        assert (seen["VLLM_FLEET_HEAD_ADDRESS"], seen["VLLM_FLEET_POD_INDEX"]) == (leader, "0")


@pytest.mark.parametrize("ordinal,why", [("6", "outside the 3 x 2 workers"), ("x1", "must be a number")])
def test_membership_refuses_an_ordinal_the_plan_does_not_have(groups, tmp_path, ordinal, why):
    container = _container(named(groups, "StatefulSet", "wide-worker")["spec"]["template"])
    env = kubelet_env(container, {"status.podIP": "10.0.1.1", POD_INDEX: ordinal})
    script = tmp_path / "member.sh"
    script.write_text(next(o for o in of_kind(groups, "ConfigMap") if o["metadata"]["name"] == "wide-entrypoints")["data"]["member.sh"])
    result = subprocess.run(["bash", str(script), "true"], env=env, capture_output=True, text=True)
    assert result.returncode == 2 and why in result.stderr


def test_worker_probes_run_through_the_membership_wrapper(groups):
    """A native worker's probe dials its head: it needs the same head address as its command."""
    template = named(groups, "LeaderWorkerSet", "nat-group")["spec"]["leaderWorkerTemplate"]["workerTemplate"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert _container(template)[probe]["exec"]["command"][:2] == ["/bin/bash", f"{ENTRYPOINT_DIR}/member.sh"]


def test_the_membership_script_is_shellcheck_clean(groups, tmp_path):
    from .conftest import tool

    script = tmp_path / "member.sh"
    script.write_text(next(o for o in of_kind(groups, "ConfigMap") if o["metadata"]["name"] == "wide-entrypoints")["data"]["member.sh"])
    checked = subprocess.run([tool("shellcheck"), "-s", "bash", "-S", "style", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


if __name__ == "__main__":
    import sys

    write_groups_render(sys.argv[1])


@pytest.mark.parametrize("value", ["lots", -1, True, "1000%"])
def test_rollout_bounds_are_a_count_or_a_percentage(value):
    message = one_issue(config(model(workload={**LWS, "maxSurge": value})), "vllm-fleet:models[0].workload.maxSurge")
    assert message == f"must be a number of groups (0, 1, …) or a percentage ('25%'), got {value!r}"
