"""Placement: where a model's pods land, in the words of Ray's strategies (PACK, STRICT_PACK, SPREAD).

`pack` keeps every pod of one group in one topology domain (a rack, an
InfiniBand block, an NVLink domain), so tensor-parallel traffic never crosses
the spine. `strict-pack` also keeps other groups out of that domain, so a group
never shares its rack's fabric or waits for GPUs another model holds there.
`spread` spreads a model's groups over zones or nodes, so losing one takes only
some of them. The workload says how one group's pods are told apart
(`GroupSelector`); where it can't, packing is a config error, not a silent
no-op.
"""

from __future__ import annotations

from typing import Any, Optional

from .config import NodePool, Placement
from .constants import LABEL_COMPONENT, LABEL_INSTANCE, LABEL_NAME
from .errors import PlanError
from .gpu_plan import GpuPlan
from .names import selector_labels
from .plugins.types import GroupSelector, PodPlacement

HOSTNAME_KEY = "kubernetes.io/hostname"


def check_placement(placement: Placement, gpus: GpuPlan, node_pool: NodePool) -> None:
    """Combinations that can't work, or keys that would do nothing."""
    if placement.group and not placement.topology_key:
        raise PlanError(
            ("placement", "topologyKey"),
            f"required key is missing: {placement.group} puts every pod of a group in one topology domain; "
            "name the node label of that domain (a rack, block or NVLink-domain label)",
        )
    if placement.topology_key and not placement.group:
        raise PlanError(("placement", "topologyKey"), "has no effect without group: pack or strict-pack; set one or remove it")
    if placement.replicas is None:
        for field, alias in (("spread_topology_key", "spreadTopologyKey"), ("when_unsatisfiable", "whenUnsatisfiable")):
            if field in placement.model_fields_set:
                raise PlanError(("placement", alias), "has no effect without replicas: spread; set it or remove this key")
    if placement.group and placement.topology_key == HOSTNAME_KEY and gpus.total_gpus > node_pool.gpus_per_node:
        raise PlanError(
            ("placement", "topologyKey"),
            f"{HOSTNAME_KEY} is one node, but a group needs {gpus.total_gpus} GPUs and a node has "
            f"{node_pool.gpus_per_node} (nodePool.gpusPerNode); pack into a larger domain such as a rack label",
        )


def _group_pods(labels: dict[str, str], roles: tuple[str, ...]) -> dict[str, Any]:
    """The group's own pods: its labels, and a role of the group (a fetch Job's or an add-on's pod is no member)."""
    return {"matchLabels": dict(labels), "matchExpressions": [{"key": LABEL_COMPONENT, "operator": "In", "values": list(roles)}]}


def _affinity_term(selector: GroupSelector, roles: tuple[str, ...], topology_key: str) -> dict[str, Any]:
    term: dict[str, Any] = {"labelSelector": _group_pods(selector.labels, roles), "topologyKey": topology_key}
    match_label_keys = selector.match_label_keys
    if match_label_keys:
        # The API server adds the pod's own value of each key: the selector then matches its group only.
        term["matchLabelKeys"] = list(match_label_keys)
    return term


def _other_groups(model: str, selector: GroupSelector, roles: tuple[str, ...], topology_key: str) -> tuple[dict[str, Any], ...]:
    """Anti-affinity to every group member of another vllm-fleet model, and to the model's own other groups."""
    others = {
        "labelSelector": {"matchExpressions": [
            {"key": LABEL_NAME, "operator": "In", "values": ["vllm"]},
            {"key": LABEL_INSTANCE, "operator": "NotIn", "values": [model]},
            {"key": LABEL_COMPONENT, "operator": "In", "values": list(roles)},
        ]},
        "topologyKey": topology_key,
    }
    if not selector.match_label_keys:
        return (others,)
    siblings = {"labelSelector": _group_pods(selector.labels, roles), "topologyKey": topology_key,
                "mismatchLabelKeys": list(selector.match_label_keys)}
    return (others, siblings)


def group_selector(workload: Any, plan: Any) -> Optional[GroupSelector]:
    """The workload's `GroupSelector` for this plan; None where it has none (the method is optional)."""
    method = getattr(workload.plugin, "group_selector", None)
    return method(workload.settings, plan) if method else None


def check_group_selector(placement: Placement, selector: Optional[GroupSelector], workload: str, replicas: int) -> None:
    if placement.group and selector is None:
        raise PlanError(
            ("placement", "group"),
            f"workload {workload!r} with replicas: {replicas} gives the pods of one group no label of their own, "
            f"so {placement.group} can't keep a group together; use workload: leaderworkerset (or replicas: 1)",
        )


def role_placement(
    placement: Placement, model: str, role: str, serves_api: bool, selector: Optional[GroupSelector], roles: tuple[str, ...]
) -> PodPlacement:
    """The affinity and spread terms of one role's pods (the same for every group of the model).

    `roles` are every role of a group; `check_group_selector` has refused a pack the workload can't express.
    """
    affinity: tuple[dict[str, Any], ...] = ()
    anti_affinity: tuple[dict[str, Any], ...] = ()
    spread: tuple[dict[str, Any], ...] = ()
    if placement.group and placement.topology_key and selector is not None:
        by_workload = placement.group == "strict-pack" and selector.strict_pack_annotation
        if not by_workload:
            affinity = (_affinity_term(selector, roles, placement.topology_key),)
            if placement.group == "strict-pack":
                anti_affinity = _other_groups(model, selector, roles, placement.topology_key)
    if placement.replicas == "spread" and serves_api:
        # One API-serving pod per group: spreading them spreads the groups (packed members follow their head).
        spread = ({
            "maxSkew": 1,
            "topologyKey": placement.spread_topology_key,
            "whenUnsatisfiable": placement.when_unsatisfiable,
            "labelSelector": {"matchLabels": selector_labels(model, role)},
        },)
    return PodPlacement(affinity, anti_affinity, spread)


def describe(placement: Placement) -> str:
    """The plan table's words for a model's placement."""
    parts = [f"{placement.group} {placement.topology_key}"] if placement.group else []
    if placement.replicas:
        parts.append(f"spread {placement.spread_topology_key}")
    return ", ".join(parts) or "any"
