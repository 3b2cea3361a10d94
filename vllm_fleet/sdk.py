"""The plugin SDK: everything a plugin (built-in or third-party) may use, and nothing else.

A plugin is plain data in, plain data out: it reads the `ModelPlan` (or its
`RolePlan`s), and returns the vocabulary below (`ObjectSpec`, `PodAdditions`,
`WeightsPlan`, ...). It raises `PlanError` for settings that can't work with the
plan; the core reports them with the key path of the setting. Modules in
`vllm_fleet/builtin/` import only from here (and the public `constants`), so
this list is the contract a third-party plugin can rely on.
"""

from __future__ import annotations

from .constants import ENTRYPOINT_DIR, FLUID_API, NAD_API, RAY_PORTS, WEIGHTS_MOUNT, WEIGHTS_VOLUME
from .errors import ModelPlanError, PlanError
from .gpu_plan import GpuPlan
from .names import Names, common_labels, network_peer, selector_labels
from .plan import ModelPlan
from .pod_template import pod_template
from .plugins.fluid import fluid_cache_label, read_through_cache
from .plugins.multus import network_pod
from .plugins.probes import make_probes
from .plugins.protocol import (
    AddonPlugin,
    CachePlugin,
    LauncherPlugin,
    NetworkPlugin,
    Plugin,
    PluginSettings,
    StoragePlugin,
    WorkloadPlugin,
)
from .plugins.types import (
    CachePlan,
    DerivedName,
    Entrypoints,
    GroupSelector,
    Membership,
    MountSource,
    NetworkPlan,
    ObjectSpec,
    PodAdditions,
    Probes,
    ReplicaRange,
    RolePlan,
    Scheduling,
    SecretKeyRef,
    WeightsPlan,
)
from .plugins.weights import claim_mount, weights_path
from .quantity import parse_quantity
from .roles import HEAD, WORKER
from .templates import Literal as ShellLiteral
from .validators import DnsSubdomain, Labels, PositiveQuantity
from .templates import render as render_template

__all__ = [
    # The protocol of each kind (for type checkers; the registry checks them at load).
    "AddonPlugin",
    "CachePlugin",
    "LauncherPlugin",
    "NetworkPlugin",
    "Plugin",
    "StoragePlugin",
    "WorkloadPlugin",
    "ENTRYPOINT_DIR",
    "FLUID_API",
    "HEAD",
    "NAD_API",
    "RAY_PORTS",
    "WEIGHTS_MOUNT",
    "WEIGHTS_VOLUME",
    "WORKER",
    "CachePlan",
    "DerivedName",
    "DnsSubdomain",
    "Entrypoints",
    "GpuPlan",
    "GroupSelector",
    "Labels",
    "Membership",
    "ModelPlan",
    "ModelPlanError",
    "MountSource",
    "Names",
    "NetworkPlan",
    "ObjectSpec",
    "PlanError",
    "PluginSettings",
    "PodAdditions",
    "PositiveQuantity",
    "Probes",
    "ReplicaRange",
    "RolePlan",
    "Scheduling",
    "SecretKeyRef",
    "ShellLiteral",
    "WeightsPlan",
    "claim_mount",
    "common_labels",
    "fluid_cache_label",
    "make_probes",
    "network_pod",
    "parse_quantity",
    "pod_template",
    "read_through_cache",
    "render_template",
    "network_peer",
    "selector_labels",
    "weights_path",
]
