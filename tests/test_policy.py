"""The policy pack in policy/, run offline against every stack's rendered objects.

No CLI is involved: each `RenderedResource` (type token, manifest, resource
options) becomes the `ResourceValidationArgs` the engine would send, and each
policy's `validate` is called directly. The mutation tests prove every rule
can fail, so "zero violations" on the real stacks means something.
"""

from __future__ import annotations

import copy
import re
import sys
from inspect import isawaitable
from typing import Any, Callable, Optional

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

from vllm_fleet.render import RenderedResource

from .conftest import PROJECT_DIR, STACKS

POLICY_DIR = PROJECT_DIR / "policy"
sys.path.insert(0, str(POLICY_DIR))  # the pack is a folder the CLI runs, not a package

import vllm_fleet_policies as pack  # noqa: E402

STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"


def validation_args(resource: RenderedResource, props: Optional[dict] = None, config: Optional[dict] = None) -> ResourceValidationArgs:
    """What the engine hands a resource policy for this registration."""
    opts = PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=[],
        delete_before_replace=resource.delete_before_replace,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )
    return ResourceValidationArgs(
        resource_type=resource.type,
        props=resource.inputs if props is None else props,
        urn=resource.urn,
        name=resource.name,
        opts=opts,
        provider=None,
        config=config,
    )


def violations(args: ResourceValidationArgs) -> dict[str, list[str]]:
    """Policy name -> messages reported, for every policy in the pack."""
    found: dict[str, list[str]] = {}
    for policy in pack.POLICIES:
        messages: list[str] = []
        result = policy.validate(args, lambda message, urn=None: messages.append(message))
        assert not isawaitable(result), f"{policy.name} is async; this harness would not await it"
        if messages:
            found[policy.name] = messages
    return found


def _first(renders, stack: str, type_: str, predicate: Callable[[RenderedResource], bool] = lambda r: True) -> RenderedResource:
    return next(r for r in renders[stack].resources if r.type == type_ and predicate(r))


def _mutated(resource: RenderedResource, change: Callable[[dict], Any], **fields: Any) -> RenderedResource:
    """A copy of the resource whose manifest `change` edits in place."""
    inputs = copy.deepcopy(resource.inputs)
    change(inputs)
    return RenderedResource(**{**vars(resource), "inputs": inputs, **fields})


def _without_rdma(resource: RenderedResource) -> bool:
    annotations = resource.inputs["spec"]["template"]["metadata"].get("annotations", {})
    return "k8s.v1.cni.cncf.io/networks" not in annotations


def _pod(sts: dict) -> dict:
    return sts["spec"]["template"]


def _container(sts: dict) -> dict:
    return _pod(sts)["spec"]["containers"][0]


def _add_caps(*caps: str) -> Callable[[dict], None]:
    def change(sts: dict) -> None:
        _container(sts)["securityContext"]["capabilities"]["add"] = list(caps)

    return change


# ------------------------------------------------------------ the pack itself


# Warnings, not refusals: the stack still deploys (see the pack's docstring).
ADVISORY_POLICIES = {"multi-node-groups-gang-scheduled"}


def test_every_policy_is_mandatory_but_the_advisory_ones_and_uniquely_named():
    assert len(pack.POLICY_BY_NAME) == len(pack.POLICIES)
    for policy in pack.POLICIES:
        expected = pack.ADVISORY if policy.name in ADVISORY_POLICIES else pack.MANDATORY
        assert policy.enforcement_level is expected, policy.name
    main = (POLICY_DIR / "__main__.py").read_text()
    assert "EnforcementLevel.MANDATORY" in main and "policies=POLICIES" in main


def test_pack_pins_the_same_pulumi_policy_as_the_test_extra():
    pin = (POLICY_DIR / "requirements.txt").read_text()
    pyproject = (PROJECT_DIR / "pyproject.toml").read_text()
    [version] = re.findall(r"^pulumi-policy==(\S+)$", pin, re.M)
    assert f'"pulumi-policy=={version}"' in pyproject


# ------------------------------------------------------- every stack passes


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_stack_has_no_violations(stack_renders, stack):
    resources = stack_renders[stack].resources
    # An empty render (e.g. an SDK that never awaits the program) would pass vacuously.
    assert any(r.type == STATEFUL_SET for r in resources), f"{stack} rendered no StatefulSet"
    found = {r.urn: v for r in resources if (v := violations(validation_args(r)))}
    assert found == {}


# -------------------------------------------- each rule fails when it should

POD_MUTATIONS = {
    "privileged": (lambda s: _container(s)["securityContext"].update(privileged=True), {"no-privileged-containers"}),
    "hostNetwork": (lambda s: _pod(s)["spec"].update(hostNetwork=True), {"no-host-namespaces"}),
    "hostPID": (lambda s: _pod(s)["spec"].update(hostPID=True), {"no-host-namespaces"}),
    "hostIPC": (lambda s: _pod(s)["spec"].update(hostIPC=True), {"no-host-namespaces"}),
    "escalation-unset": (
        lambda s: _container(s)["securityContext"].pop("allowPrivilegeEscalation"),
        {"no-privilege-escalation"},
    ),
    "escalation-true": (
        lambda s: _container(s)["securityContext"].update(allowPrivilegeEscalation=True),
        {"no-privilege-escalation"},
    ),
    "SYS_ADMIN": (_add_caps("SYS_ADMIN"), {"minimal-capabilities"}),
    "no-drop-all": (
        lambda s: _container(s)["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
        {"minimal-capabilities"},
    ),
    "IPC_LOCK-without-RDMA": (_add_caps("IPC_LOCK"), {"ipc-lock-only-with-rdma"}),
    "token-mounted": (lambda s: _pod(s)["spec"].update(automountServiceAccountToken=True), {"no-service-account-token"}),
    "token-default": (lambda s: _pod(s)["spec"].pop("automountServiceAccountToken"), {"no-service-account-token"}),
    "literal-api-key": (
        lambda s: _container(s)["env"].append({"name": "VLLM_API_KEY", "value": "sk-123"}),
        {"api-key-from-secret"},
    ),
    "api-key-from-configmap": (
        lambda s: _container(s)["env"].append(
            {"name": "VLLM_API_KEY", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}
        ),
        {"api-key-from-secret"},
    ),
    "api-key-flag": (lambda s: _container(s).update(args=["--api-key=sk-123"]), {"api-key-from-secret"}),
    "api-key-flag-in-shell": (
        lambda s: _container(s).update(command=["bash", "-c", "vllm serve m --api-key sk-123"]),
        {"api-key-from-secret"},
    ),
    "privileged-init-container": (
        lambda s: _pod(s)["spec"].update(
            initContainers=[{**copy.deepcopy(_container(s)), "name": "init", "securityContext": {"privileged": True}}]
        ),
        {"no-privileged-containers", "no-privilege-escalation", "minimal-capabilities"},
    ),
}


@pytest.mark.parametrize("mutation", POD_MUTATIONS, ids=str)
def test_pod_mutation_is_reported_by_the_right_policy(stack_renders, mutation):
    change, expected = POD_MUTATIONS[mutation]
    # A pod without an RDMA network, so IPC_LOCK has no excuse there.
    sts = _mutated(_first(stack_renders, "prod", STATEFUL_SET, _without_rdma), change)
    assert set(violations(validation_args(sts))) == expected


RDMA_PODS = {
    "multus-annotation": lambda s: _pod(s)["metadata"]["annotations"].update({pack.MULTUS_NETWORKS: "rdma-net"}),
    "rdma-device": lambda s: _container(s)["resources"]["limits"].update({"rdma/hca_shared_devices_a": 1}),
    "sriov-device": lambda s: _container(s)["resources"]["requests"].update({"openshift.io/mlnxnics": 1}),
    "nvidia-hostdev": lambda s: _container(s)["resources"]["limits"].update({"nvidia.com/hostdev": 1}),
}


@pytest.mark.parametrize("rdma", RDMA_PODS, ids=str)
def test_ipc_lock_is_allowed_on_rdma_pods(stack_renders, rdma):
    def change(sts: dict) -> None:
        _add_caps("IPC_LOCK")(sts)
        RDMA_PODS[rdma](sts)

    # A pod without an RDMA network, so IPC_LOCK has no excuse there.
    sts = _mutated(_first(stack_renders, "prod", STATEFUL_SET, _without_rdma), change)
    assert violations(validation_args(sts)) == {}


@pytest.mark.parametrize("gpu", ["nvidia.com/gpu", "nvidia.com/mig-1g.10gb", "amd.com/gpu"])
def test_gpu_resources_are_not_rdma(gpu):
    assert not pack.is_rdma_resource(gpu)


def test_api_key_from_a_secret_is_accepted(stack_renders):
    secret_ref = {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "vllm-api", "key": "key"}}}
    sts = _mutated(_first(stack_renders, "prod", STATEFUL_SET), lambda s: _container(s)["env"].append(secret_ref))
    assert violations(validation_args(sts)) == {}


def test_policies_see_bare_pods_and_cronjobs(stack_renders):
    template = _pod(_first(stack_renders, "prod", STATEFUL_SET).inputs)
    bad = copy.deepcopy(template)
    bad["spec"]["hostPID"] = True
    for type_, props in (
        ("kubernetes:core/v1:Pod", bad),
        ("kubernetes:batch/v1:Job", {"spec": {"template": bad}}),
        ("kubernetes:batch/v1:CronJob", {"spec": {"jobTemplate": {"spec": {"template": bad}}}}),
    ):
        resource = RenderedResource(urn=f"urn:pulumi:prod::vllm-fleet::{type_}::x", type=type_, name="x", custom=True, parent="", inputs=props)
        assert set(violations(validation_args(resource))) == {"no-host-namespaces"}, type_


def test_entrypoint_script_with_api_key_flag_is_reported(stack_renders):
    cm = _first(stack_renders, "prod", "kubernetes:core/v1:ConfigMap")
    key = next(iter(cm.inputs["data"]))
    bad = _mutated(cm, lambda c: c["data"].update({key: c["data"][key] + "\nvllm serve m --api-key sk-123\n"}))
    assert set(violations(validation_args(bad))) == {"api-key-from-secret"}


@pytest.mark.parametrize(
    "port",
    [
        {"name": "dash", "port": 8265, "targetPort": 8265},
        {"name": "web", "port": 80, "targetPort": 8265},
        {"name": "web", "port": 80, "targetPort": "dashboard"},
        {"name": "dashboard", "port": 9000},
    ],
)
def test_ray_dashboard_service_is_reported(stack_renders, port):
    service = _first(stack_renders, "prod", "kubernetes:core/v1:Service")
    bad = _mutated(service, lambda s: s["spec"].setdefault("ports", []).append(port))
    assert set(violations(validation_args(bad))) == {"no-ray-dashboard-service"}


# -------------------------------------------------------- protected weights


def _is_claim(resource: RenderedResource) -> bool:
    return resource.type == "kubernetes:core/v1:PersistentVolumeClaim"


def test_unprotected_weights_claim_is_reported_outside_the_exempt_stacks(stack_renders):
    claim = _first(stack_renders, "prod", "kubernetes:core/v1:PersistentVolumeClaim")
    assert claim.protect
    unprotected = _mutated(claim, lambda c: None, protect=False)
    assert set(violations(validation_args(unprotected))) == {"weights-claims-protected"}


def test_dev_may_opt_out_of_protect_but_only_while_configured(stack_renders):
    claim = _first(stack_renders, "dev", "kubernetes:core/v1:PersistentVolumeClaim")
    assert not claim.protect, "dev opts its weights out of protect (stacks/Pulumi.dev.yaml)"
    assert pack.stack_of(claim.urn) == "dev"
    assert violations(validation_args(claim)) == {}
    strict = validation_args(claim, config={pack.UNPROTECTED_STACKS_KEY: []})
    assert set(violations(strict)) == {"weights-claims-protected"}


def test_claims_other_than_weights_are_not_policed(stack_renders):
    claim = _first(stack_renders, "prod", "kubernetes:core/v1:PersistentVolumeClaim")
    other = _mutated(claim, lambda c: c["metadata"]["labels"].update({"app.kubernetes.io/component": "cache"}), protect=False)
    assert violations(validation_args(other)) == {}


# ---------------------------------------------------------- gang scheduling

GANG_RULE = "multi-node-groups-gang-scheduled"
LWS_TYPE = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"


def _is_worker(resource: RenderedResource) -> bool:
    return resource.type == STATEFUL_SET and resource.name.endswith("-worker")


def _pod_scheduled_by_default(sts: dict) -> None:
    _pod(sts)["spec"].pop("schedulerName")
    _pod(sts)["metadata"]["annotations"].pop(pack.VOLCANO_GROUP_ANNOTATION)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_multi_node_group_without_a_gang_is_a_warning_in_staging_and_prod(stack_renders, stack):
    worker = _first(stack_renders, stack, STATEFUL_SET, _is_worker)
    assert pack.multi_node_group(validation_args(worker)) and pack.gang_scheduled(validation_args(worker))
    ungrouped = _mutated(worker, _pod_scheduled_by_default)
    found = violations(validation_args(ungrouped))
    assert set(found) == {GANG_RULE} and "without gang scheduling" in found[GANG_RULE][0]
    # A scheduler that names no gang is no gang either.
    nameless = _mutated(worker, lambda s: _pod(s)["metadata"]["annotations"].pop(pack.VOLCANO_GROUP_ANNOTATION))
    assert set(violations(validation_args(nameless))) == {GANG_RULE}


def test_the_gang_rule_spares_dev_heads_and_configured_stacks(stack_renders):
    worker = _first(stack_renders, "prod", STATEFUL_SET, _is_worker)
    in_dev = _mutated(worker, _pod_scheduled_by_default, urn=worker.urn.replace("urn:pulumi:prod::", "urn:pulumi:dev::"))
    assert violations(validation_args(in_dev)) == {}
    head = _mutated(_first(stack_renders, "prod", STATEFUL_SET, lambda r: r.name == "qwen-72b-head"), _pod_scheduled_by_default)
    assert violations(validation_args(head)) == {}
    ungrouped = _mutated(worker, _pod_scheduled_by_default)
    assert violations(validation_args(ungrouped, config={pack.GANG_STACKS_KEY: ["staging"]})) == {}


def _lws(worker: RenderedResource, size: int, labels: Optional[dict] = None, scheduler: Optional[str] = None) -> RenderedResource:
    template = copy.deepcopy(_pod(worker.inputs))
    template["spec"].pop("schedulerName")
    if scheduler:
        template["spec"]["schedulerName"] = scheduler
    props = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "m-group", "labels": labels or {}},
        "spec": {"leaderWorkerTemplate": {"size": size, "leaderTemplate": template, "workerTemplate": template}},
    }
    urn = f"urn:pulumi:prod::vllm-fleet::{LWS_TYPE}::m-group"
    return RenderedResource(urn=urn, type=LWS_TYPE, name="m-group", custom=True, parent="", inputs=props)


@pytest.mark.parametrize(
    ("size", "labels", "scheduler", "warned"),
    [
        (2, None, None, True),
        (2, {pack.KUEUE_QUEUE_LABEL: "llm"}, None, False),
        (2, None, "volcano", False),
        (2, None, "default-scheduler", True),
        (1, None, None, False),
    ],
    ids=["default-scheduler", "kueue-queue", "volcano", "default-scheduler-by-name", "one-pod-groups"],
)
def test_the_gang_rule_reads_leaderworkersets(stack_renders, size, labels, scheduler, warned):
    worker = _first(stack_renders, "prod", STATEFUL_SET, _is_worker)
    lws = _lws(worker, size, labels, scheduler)
    assert set(violations(validation_args(lws))) == ({GANG_RULE} if warned else set())


def test_the_gang_rule_needs_every_template_of_a_leaderworkerset(stack_renders):
    worker = _first(stack_renders, "prod", STATEFUL_SET, _is_worker)
    lws = _lws(worker, 2, scheduler="volcano")
    leader_by_default = _mutated(lws, lambda p: p["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"].pop("schedulerName"))
    assert set(violations(validation_args(leader_by_default))) == {GANG_RULE}
    workers_only = _mutated(lws, lambda p: p["spec"]["leaderWorkerTemplate"].pop("leaderTemplate"))
    assert violations(validation_args(workers_only)) == {}


# ------------------------------------------------ LeaderWorkerSet pods


LWS_TEMPLATES = ("leaderTemplate", "workerTemplate")


def _prod_lws(stack_renders) -> RenderedResource:
    return _first(stack_renders, "prod", LWS_TYPE, lambda r: r.name == "llama-405b-group")


def _lws_pod(lws: dict, template: str) -> dict:
    return lws["spec"]["leaderWorkerTemplate"][template]


def _as_sts(pod: dict) -> dict:
    """The pod wrapped where `_pod` and `_container` look, so POD_MUTATIONS edit it in place."""
    return {"spec": {"template": pod}}


def _strip_rdma(lws: dict) -> None:
    """No Multus network, RDMA device or IPC_LOCK in either template: IPC_LOCK then has no excuse."""
    for template in LWS_TEMPLATES:
        pod = _lws_pod(lws, template)
        pod["metadata"]["annotations"].pop(pack.MULTUS_NETWORKS)
        for container in pod["spec"]["containers"]:
            for section in container["resources"].values():
                for name in [n for n in section if pack.is_rdma_resource(n)]:
                    section.pop(name)
            container["securityContext"]["capabilities"].pop("add", None)


def test_the_prod_leaderworkerset_is_walked_and_passes(stack_renders):
    lws = _prod_lws(stack_renders)
    assert [name for name, _ in pack.pod_templates(validation_args(lws))] == list(LWS_TEMPLATES)
    assert violations(validation_args(lws)) == {}
    assert violations(validation_args(_mutated(lws, _strip_rdma))) == {}


@pytest.mark.parametrize("template", LWS_TEMPLATES)
@pytest.mark.parametrize("mutation", POD_MUTATIONS, ids=str)
def test_lws_pod_mutation_is_reported_by_the_right_policy(stack_renders, mutation, template):
    change, expected = POD_MUTATIONS[mutation]

    def change_one_template(lws: dict) -> None:
        _strip_rdma(lws)
        change(_as_sts(_lws_pod(lws, template)))

    found = violations(validation_args(_mutated(_prod_lws(stack_renders), change_one_template)))
    assert set(found) == expected
    messages = [message for policy in expected for message in found[policy]]
    assert all(message.startswith(f"LeaderWorkerSet llama-405b-group {template}") for message in messages), messages


def test_ipc_lock_is_judged_per_lws_template(stack_renders):
    def worker_off_the_rdma_network(lws: dict) -> None:
        pod = _lws_pod(lws, "workerTemplate")
        pod["metadata"]["annotations"].pop(pack.MULTUS_NETWORKS)
        for section in _container(_as_sts(pod))["resources"].values():
            for name in [n for n in section if pack.is_rdma_resource(n)]:
                section.pop(name)

    found = violations(validation_args(_mutated(_prod_lws(stack_renders), worker_off_the_rdma_network)))
    assert set(found) == {"ipc-lock-only-with-rdma"}
    assert [m.split(" adds ")[0] for m in found["ipc-lock-only-with-rdma"]] == [
        "LeaderWorkerSet llama-405b-group workerTemplate, container 'vllm'"
    ]


def test_an_lws_without_a_leader_template_is_checked_through_its_worker_template(stack_renders):
    def privileged_workers_only(lws: dict) -> None:
        lws["spec"]["leaderWorkerTemplate"].pop("leaderTemplate")
        _container(_as_sts(_lws_pod(lws, "workerTemplate")))["securityContext"]["privileged"] = True

    found = violations(validation_args(_mutated(_prod_lws(stack_renders), privileged_workers_only)))
    assert found == {
        "no-privileged-containers": ["LeaderWorkerSet llama-405b-group workerTemplate, container 'vllm' sets securityContext.privileged: true"]
    }
