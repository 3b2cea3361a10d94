"""A plan per role: what each role of a group (head, workers) runs, with which GPUs, env and probes.

The launcher says what each role runs (`Entrypoints`); the workload plugin says
how a pod finds its group (`Membership`); this module joins them with the GPU
plan into `RolePlan`s, which every workload turns into objects the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .constants import API_KEY_ENV, CACHE_DIR, DRAIN_STOP_MARGIN_SECONDS, ENTRYPOINT_DIR
from .placement import group_selector, role_placement
from .plugins.types import Membership, Probes, RolePlan
from .templates import render

if TYPE_CHECKING:
    from .config import SelectedPlugin
    from .plan import ModelPlan

HEAD, WORKER = "head", "worker"
DRAIN_SCRIPT = "drain.sh"
_POD_IP = {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def role_env(plan: "ModelPlan", role: str, serves_api: bool, member: Membership) -> tuple[dict[str, Any], ...]:
    """The container env of one role: identity, group address, offline and cache settings, then plugins'."""
    env = [
        {"name": "POD_IP", **_POD_IP},
        {"name": "VLLM_FLEET_ROLE", "value": role},
        *member.head_address,
        # Weights come from the claim; the pod must never reach for a hub.
        {"name": "HF_HUB_OFFLINE", "value": "1"},
        # The root filesystem is read-only: caches go to the `cache` emptyDir and
        # nothing tries to write usage reports under /root.
        {"name": "XDG_CACHE_HOME", "value": CACHE_DIR},
        {"name": "XDG_CONFIG_HOME", "value": f"{CACHE_DIR}/config"},
        {"name": "TRITON_CACHE_DIR", "value": f"{CACHE_DIR}/triton"},
        {"name": "VLLM_CACHE_ROOT", "value": f"{CACHE_DIR}/vllm"},
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
        {"name": "DO_NOT_TRACK", "value": "1"},
    ]
    if plan.gpus.multi_node:
        env.append({"name": "VLLM_HOST_IP", **_POD_IP})
    if serves_api and plan.api_key:
        # vLLM reads the key from the environment; it never appears in argv or the object.
        env.append(plan.api_key.env(API_KEY_ENV))
    return tuple(env) + member.index + plan.pod.env


def _wrapped_probes(probes: Probes, wrapper: tuple[str, ...]) -> Probes:
    """Exec probes run in a fresh process: they need the membership wrapper as much as the command."""

    def wrap(probe):
        if not wrapper or not probe or "exec" not in probe:
            return probe
        return {**probe, "exec": {"command": [*wrapper, *probe["exec"]["command"]]}}

    return Probes(wrap(probes.startup), wrap(probes.readiness), wrap(probes.liveness))


def drain_script(plan: "ModelPlan") -> str:
    """The preStop script of every role (templates/drain.sh.j2): heads wait for the endpoints, workers for the head."""
    drain = plan.config.drain
    return render(
        "drain.sh.j2",
        endpoint_delay_seconds=drain.endpoint_delay_seconds,
        # The head's preStop, its drain and the Ray head's stop margin; the worker still has its own stop left.
        worker_wait_seconds=drain.endpoint_delay_seconds + drain.timeout_seconds + DRAIN_STOP_MARGIN_SECONDS,
        api_port=plan.api_port,
    )


def _pre_stop(role: str, wrapper: tuple[str, ...]) -> dict[str, Any]:
    return {"exec": {"command": [*wrapper, "/bin/bash", f"{ENTRYPOINT_DIR}/{DRAIN_SCRIPT}", role]}}


def plan_roles(plan: "ModelPlan", workload: "SelectedPlugin") -> tuple[tuple[RolePlan, ...], dict[str, str]]:
    """Every role of one group, head first (it serves the API), and the scripts membership adds."""
    entry, gpus = plan.entrypoints, plan.gpus
    shapes = [(HEAD, plan.names.head, 1, gpus.head_gpus, entry.head_command, entry.head_probes, True)]
    if gpus.multi_node:
        shapes.append((WORKER, plan.names.worker, gpus.workers, gpus.worker_gpus, entry.worker_command, entry.worker_probes, False))
    roles, scripts = [], {DRAIN_SCRIPT: drain_script(plan)}
    selector = group_selector(workload, plan)
    role_names = tuple(shape[0] for shape in shapes)
    for role, name, pods, role_gpus, command, probes, serves_api in shapes:
        member = workload.plugin.membership(workload.settings, plan, role)
        scripts.update(member.scripts)
        roles.append(RolePlan(
            role=role,
            name=name,
            pods_per_group=pods,
            replicas=plan.replicas,
            gpus_per_pod=role_gpus,
            resources=plan.pod_resources(role_gpus),
            command=member.wrapper + tuple(command),
            probes=_wrapped_probes(probes, member.wrapper),
            env=role_env(plan, role, serves_api, member),
            serves_api=serves_api,
            placement=role_placement(plan.config.placement, plan.name, role, serves_api, selector, role_names),
            pre_stop=_pre_stop(role, member.wrapper),
        ))
    return tuple(roles), scripts


__all__ = ["HEAD", "WORKER", "plan_roles", "role_env"]
