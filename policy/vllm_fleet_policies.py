"""vllm-fleet's house security rules as Pulumi resource policies, all MANDATORY.

The checks are plain functions over the Kubernetes manifest the program
submits (`args.props`), so they run under `pulumi preview --policy-pack ./policy`
and, offline, from tests/test_policy.py against every rendered stack.

Why each rule exists:
- A vLLM pod holds GPUs, model weights and an API key; a privileged container,
  a host namespace or a privilege escalation turns a bug in a Python server
  into a node compromise.
- The only capability multi-node serving needs is IPC_LOCK, for RDMA (NCCL
  pins memory for GPUDirect/InfiniBand). Granting it to pods without an RDMA
  network or device buys nothing and widens the container.
- No vLLM or Ray pod talks to the Kubernetes API, so a mounted token is only
  something to steal.
- The Ray dashboard (8265) is an unauthenticated job-submission API: whoever
  reaches it runs code on the GPU nodes (ShadowRay, CVE-2023-48022).
- An API key in a literal env value or a `--api-key` flag is readable by
  anyone who can read the StatefulSet or `ps` in the pod.
- Deleting a weights claim throws away hours of download; `protect` makes
  `pulumi destroy` and accidental replacement refuse.
- A multi-node group scheduled pod by pod can hold a node's GPUs with its head
  while its worker stays Pending, and two such groups can deadlock; in staging
  and prod that is a warning (ADVISORY: a cluster may lack a gang scheduler
  for a while, and the stack should still deploy).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

# Where each workload kind keeps its pod templates (metadata + spec), by the
# name a message gives the template ("" where a kind has only one).
_TEMPLATE = ("spec", "template")
_LWS = ("spec", "leaderWorkerTemplate")
_POD_PATHS: dict[str, dict[str, tuple[str, ...]]] = {
    "Pod": {"": ()},
    "StatefulSet": {"": _TEMPLATE},
    "Deployment": {"": _TEMPLATE},
    "DaemonSet": {"": _TEMPLATE},
    "ReplicaSet": {"": _TEMPLATE},
    "Job": {"": _TEMPLATE},
    "CronJob": {"": ("spec", "jobTemplate", *_TEMPLATE)},
    # The leader template is optional: without one, the leader runs the worker template.
    "LeaderWorkerSet": {key: (*_LWS, key) for key in ("leaderTemplate", "workerTemplate")},
}
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

MULTUS_NETWORKS = "k8s.v1.cni.cncf.io/networks"
RDMA_CAPABILITY = "IPC_LOCK"
# Device-plugin resources that carry RDMA: rdma/hca_shared_devices_a,
# openshift.io/<sriov pool>, nvidia.com/hostdev, nvidia.com/rdma_shared_device_a ...
_RDMA_RESOURCE_PREFIXES = ("rdma/", "openshift.io/", "nvidia.com/")
# ... but not the GPUs themselves (whole GPUs or MIG slices).
_GPU_RESOURCE_PREFIXES = ("nvidia.com/gpu", "nvidia.com/mig-")

RAY_DASHBOARD_PORT = 8265
RAY_DASHBOARD_NAME = "dashboard"
API_KEY_ENV = "VLLM_API_KEY"
API_KEY_FLAG = "--api-key"

WEIGHTS_COMPONENT = "weights"
UNPROTECTED_STACKS_KEY = "unprotectedStacks"
# The stacks whose config opts weights out of `protect` on purpose (dev's
# weights are re-downloadable). A stack not listed here may not opt out.
DEFAULT_UNPROTECTED_STACKS = ("dev",)


GANG_STACKS_KEY = "gangStacks"
# The stacks where a multi-node group without gang scheduling is reported.
DEFAULT_GANG_STACKS = ("staging", "prod")
DEFAULT_SCHEDULER = "default-scheduler"
# How a pod names its gang: Volcano's PodGroup annotation, scheduler-plugins' PodGroup label.
VOLCANO_GROUP_ANNOTATION = "scheduling.k8s.io/group-name"
COSCHEDULING_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
# Kueue admits each LeaderWorkerSet group whole when the LWS carries a queue.
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


# ----------------------------------------------------------------- walking


def _kind(args: ResourceValidationArgs) -> str:
    """`kubernetes:apps/v1:StatefulSet` -> `StatefulSet`; "" for non-Kubernetes types."""
    if not args.resource_type.startswith("kubernetes:"):
        return ""
    return args.resource_type.rsplit(":", 1)[-1]


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def pod_templates(args: ResourceValidationArgs) -> list[tuple[str, Mapping[str, Any]]]:
    """(template name, pod) for each pod (metadata + spec) a workload creates; none for other kinds."""
    found = []
    for template, path in _POD_PATHS.get(_kind(args), {}).items():
        pod = _dig(args.props, path)
        if isinstance(pod, Mapping):
            found.append((template, pod))
    return found


def containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in _CONTAINER_LISTS:
        yield from spec.get(key) or []


def _where(args: ResourceValidationArgs, container: Optional[Mapping[str, Any]] = None, template: str = "") -> str:
    """`StatefulSet x`, `LeaderWorkerSet x workerTemplate`, then the container if there is one."""
    where = f"{_kind(args)} {args.name} {template}".rstrip()
    return f"{where}, container {container.get('name')!r}" if container else where


def _pod_specs(args: ResourceValidationArgs) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where, pod spec) for every pod template of the resource."""
    for template, pod in pod_templates(args):
        spec = pod.get("spec")
        if isinstance(spec, Mapping):
            yield _where(args, template=template), spec


def _each_container(args: ResourceValidationArgs) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where, container) for every container of every pod template of the resource."""
    for template, pod in pod_templates(args):
        for container in containers(pod.get("spec") or {}):
            yield _where(args, container, template), container


def _security_context(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return container.get("securityContext") or {}


# ------------------------------------------------------------ pod security


def _no_privileged(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for where, container in _each_container(args):
        if _security_context(container).get("privileged") is True:
            report(f"{where} sets securityContext.privileged: true")


def _no_host_namespaces(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for where, spec in _pod_specs(args):
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(field) is True:
                report(f"{where} sets {field}: true")


def _no_privilege_escalation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # Unset means *allowed* (the kernel default), so it must be spelled out.
    for where, container in _each_container(args):
        if _security_context(container).get("allowPrivilegeEscalation") is not False:
            report(f"{where} must set securityContext.allowPrivilegeEscalation: false")


def _capabilities(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return _security_context(container).get("capabilities") or {}


def _minimal_capabilities(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for where, container in _each_container(args):
        caps = _capabilities(container)
        if "ALL" not in (caps.get("drop") or []):
            report(f"{where} must drop ALL capabilities")
        extra = sorted(set(caps.get("add") or []) - {RDMA_CAPABILITY})
        if extra:
            report(f"{where} adds {', '.join(extra)}; only {RDMA_CAPABILITY} (RDMA) may be added")


def is_rdma_resource(name: str) -> bool:
    return name.startswith(_RDMA_RESOURCE_PREFIXES) and not name.startswith(_GPU_RESOURCE_PREFIXES)


def uses_rdma(pod: Mapping[str, Any]) -> bool:
    """A Multus secondary network, or an RDMA/SR-IOV device from a device plugin."""
    annotations = _dig(pod, ("metadata", "annotations")) or {}
    if annotations.get(MULTUS_NETWORKS):
        return True
    for container in containers(pod.get("spec") or {}):
        resources = container.get("resources") or {}
        for section in ("requests", "limits"):
            if any(is_rdma_resource(name) for name in resources.get(section) or {}):
                return True
    return False


def _ipc_lock_only_with_rdma(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # Per template: a LeaderWorkerSet's leader may sit on the RDMA network while its workers do not.
    for template, pod in pod_templates(args):
        if uses_rdma(pod):
            continue
        for container in containers(pod.get("spec") or {}):
            if RDMA_CAPABILITY not in (_capabilities(container).get("add") or []):
                continue
            report(
                f"{_where(args, container, template)} adds {RDMA_CAPABILITY} but the pod has no RDMA: "
                f"no {MULTUS_NETWORKS} annotation and no rdma/, openshift.io/ or nvidia.com/ (non-GPU) device"
            )


def _no_service_account_token(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # Kubernetes mounts the token unless told not to; no vLLM or Ray pod calls the API.
    for where, spec in _pod_specs(args):
        if spec.get("automountServiceAccountToken") is not False:
            report(f"{where} must set automountServiceAccountToken: false (no vllm-fleet pod uses the API token)")


# ---------------------------------------------------------- network, secrets


def _no_ray_dashboard(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if _kind(args) != "Service":
        return
    for port in _dig(args.props, ("spec", "ports")) or []:
        values = {port.get("port"), port.get("targetPort"), port.get("name")}
        if values & {RAY_DASHBOARD_PORT, str(RAY_DASHBOARD_PORT), RAY_DASHBOARD_NAME}:
            report(f"{_where(args)} exposes the Ray dashboard ({port}); reach it with kubectl port-forward instead")


def _flags_api_key(words: Any) -> bool:
    # Also catches `bash -c "vllm serve --api-key x"` and `--api-key=x`.
    return any(isinstance(word, str) and API_KEY_FLAG in word for word in words or [])


def _api_key_from_secret(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for where, container in _each_container(args):
        for env in container.get("env") or []:
            if env.get("name") != API_KEY_ENV:
                continue
            if "value" in env or not _dig(env, ("valueFrom", "secretKeyRef")):
                report(f"{where}: {API_KEY_ENV} must come from valueFrom.secretKeyRef, not a literal")
        for field in ("command", "args"):
            if _flags_api_key(container.get(field)):
                report(f"{where} passes {API_KEY_FLAG} in its {field}; vLLM reads {API_KEY_ENV}")
    # The entrypoint scripts live in ConfigMaps, which are not secret either.
    if _kind(args) == "ConfigMap":
        for key, text in (args.props.get("data") or {}).items():
            if isinstance(text, str) and API_KEY_FLAG in text:
                report(f"{_where(args)} key {key!r} passes {API_KEY_FLAG}; vLLM reads {API_KEY_ENV} from a Secret")


# ------------------------------------------------------------ weights claim


def stack_of(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> `<stack>`."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


def _weights_claims_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if _kind(args) != "PersistentVolumeClaim":
        return
    if (_dig(args.props, ("metadata", "labels")) or {}).get("app.kubernetes.io/component") != WEIGHTS_COMPONENT:
        return
    exempt = args.get_config().get(UNPROTECTED_STACKS_KEY, list(DEFAULT_UNPROTECTED_STACKS))
    if not args.opts.protect and stack_of(args.urn) not in exempt:
        report(
            f"{_where(args)} is a weights claim without `protect` in stack {stack_of(args.urn)!r}; "
            f"only {sorted(exempt)} may opt out (storage.protect: false)"
        )


# ------------------------------------------------------------ gang scheduling


def multi_node_group(args: ResourceValidationArgs) -> bool:
    """A LeaderWorkerSet of groups larger than one pod, or the worker StatefulSet of a group."""
    if _kind(args) == "LeaderWorkerSet":
        return (_dig(args.props, ("spec", "leaderWorkerTemplate", "size")) or 1) > 1
    worker = ("metadata", "labels", "app.kubernetes.io/component")
    return _kind(args) == "StatefulSet" and any(_dig(pod, worker) == "worker" for _, pod in pod_templates(args))


def _names_its_gang(pod: Mapping[str, Any], lws: bool) -> bool:
    """A gang scheduler schedules the pod and the pod names its gang (LWS names Volcano's for each group)."""
    scheduler = _dig(pod, ("spec", "schedulerName")) or DEFAULT_SCHEDULER
    if scheduler == DEFAULT_SCHEDULER:
        return False
    annotations = _dig(pod, ("metadata", "annotations")) or {}
    labels = _dig(pod, ("metadata", "labels")) or {}
    return lws or VOLCANO_GROUP_ANNOTATION in annotations or COSCHEDULING_GROUP_LABEL in labels


def gang_scheduled(args: ResourceValidationArgs) -> bool:
    lws = _kind(args) == "LeaderWorkerSet"
    if lws and (_dig(args.props, ("metadata", "labels")) or {}).get(KUEUE_QUEUE_LABEL):
        return True
    pods = [pod for _, pod in pod_templates(args)]
    return bool(pods) and all(_names_its_gang(pod, lws) for pod in pods)


def _groups_gang_scheduled(args: ResourceValidationArgs, report: ReportViolation) -> None:
    stacks = args.get_config().get(GANG_STACKS_KEY, list(DEFAULT_GANG_STACKS))
    if stack_of(args.urn) not in stacks or not multi_node_group(args) or gang_scheduled(args):
        return
    report(
        f"{_where(args)} runs a multi-node group without gang scheduling in stack {stack_of(args.urn)!r}: its pods "
        "are scheduled one by one, so a head can hold its GPUs while its workers wait; add the volcano, "
        "coscheduling or kueue add-on (README: How groups get scheduled)"
    )


# ----------------------------------------------------------------- policies


def _stack_list_schema(key: str, default, description: str) -> PolicyConfigSchema:
    """A policy's one setting: a list of stack names (`pulumi preview --policy-pack-config`)."""
    return PolicyConfigSchema(
        properties={key: {"type": "array", "items": {"type": "string"}, "default": list(default), "description": description}}
    )


def _policy(name: str, description: str, validate, level: EnforcementLevel = MANDATORY, **extra: Any) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level, **extra)


POLICIES: list[ResourceValidationPolicy] = [
    _policy("no-privileged-containers", "Containers must not run privileged.", _no_privileged),
    _policy("no-host-namespaces", "Pods must not share the node's network, PID or IPC namespace.", _no_host_namespaces),
    _policy(
        "no-privilege-escalation",
        "Every container sets allowPrivilegeEscalation: false.",
        _no_privilege_escalation,
    ),
    _policy(
        "minimal-capabilities",
        "Containers drop ALL capabilities and add none but IPC_LOCK.",
        _minimal_capabilities,
    ),
    _policy(
        "ipc-lock-only-with-rdma",
        "IPC_LOCK is added only to pods on an RDMA network (Multus annotation or RDMA device resource).",
        _ipc_lock_only_with_rdma,
    ),
    _policy(
        "no-service-account-token",
        "Pod templates set automountServiceAccountToken: false.",
        _no_service_account_token,
    ),
    _policy("no-ray-dashboard-service", "No Service exposes the Ray dashboard (port 8265).", _no_ray_dashboard),
    _policy(
        "api-key-from-secret",
        "VLLM_API_KEY comes from a Secret; no literal value and no --api-key flag.",
        _api_key_from_secret,
    ),
    _policy(
        "weights-claims-protected",
        "Weights PersistentVolumeClaims carry the `protect` resource option.",
        _weights_claims_protected,
        config_schema=_stack_list_schema(
            UNPROTECTED_STACKS_KEY, DEFAULT_UNPROTECTED_STACKS, "Stacks allowed to opt weights claims out of protect."
        ),
    ),
    _policy(
        "multi-node-groups-gang-scheduled",
        "In staging and prod, every multi-node group is gang-scheduled (Volcano, coscheduling or Kueue): a warning.",
        _groups_gang_scheduled,
        level=ADVISORY,
        config_schema=_stack_list_schema(
            GANG_STACKS_KEY, DEFAULT_GANG_STACKS, "Stacks whose multi-node groups must be gang-scheduled."
        ),
    ),
]
POLICY_BY_NAME = {policy.name: policy for policy in POLICIES}

__all__ = ["ADVISORY", "MANDATORY", "POLICIES", "POLICY_BY_NAME", "gang_scheduled", "multi_node_group", "pod_templates", "stack_of", "uses_rdma"]
