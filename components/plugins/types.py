"""Plain data that plugins hand back: the plan's vocabulary for 'add this to the group'.

Plugins never call Pulumi. They describe objects (`ObjectSpec`) and pod additions
(`PodAdditions`); the components register and merge them. That keeps every
plugin testable without mocks and keeps one place that talks to Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass(frozen=True)
class ObjectSpec:
    """One Kubernetes object, minus metadata the component fills (namespace, common labels)."""

    api_version: str
    kind: str
    name: str
    body: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # Pulumi resource options: a claim holding weights is protected and retained.
    protect: bool = False
    retain_on_delete: bool = False
    namespaced: bool = True


@dataclass(frozen=True)
class PodAdditions:
    """What a plugin adds to every pod of a model's group (head and workers)."""

    volumes: tuple[dict[str, Any], ...] = ()
    volume_mounts: tuple[dict[str, Any], ...] = ()
    env: tuple[dict[str, Any], ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    extra_resources: dict[str, int] = field(default_factory=dict)
    capabilities: tuple[str, ...] = ()
    preferred_node_affinity: tuple[dict[str, Any], ...] = ()
    init_containers: tuple[dict[str, Any], ...] = ()

    def merge(self, other: "PodAdditions") -> "PodAdditions":
        return PodAdditions(
            volumes=self.volumes + other.volumes,
            volume_mounts=self.volume_mounts + other.volume_mounts,
            env=self.env + other.env,
            annotations={**self.annotations, **other.annotations},
            labels={**self.labels, **other.labels},
            extra_resources={**self.extra_resources, **other.extra_resources},
            capabilities=tuple(dict.fromkeys(self.capabilities + other.capabilities)),
            preferred_node_affinity=self.preferred_node_affinity + other.preferred_node_affinity,
            init_containers=self.init_containers + other.init_containers,
        )


@dataclass(frozen=True)
class WeightsPlan:
    """Where the weights are and how pods see them."""

    model_path: str
    objects: tuple[ObjectSpec, ...] = ()
    pod: PodAdditions = PodAdditions()
    description: str = ""


@dataclass(frozen=True)
class Probes:
    startup: Optional[dict[str, Any]] = None
    readiness: Optional[dict[str, Any]] = None
    liveness: Optional[dict[str, Any]] = None


@dataclass(frozen=True)
class Entrypoints:
    """The launcher's scripts (ConfigMap data) and how each role runs and is probed."""

    scripts: dict[str, str]
    head_command: tuple[str, ...]
    worker_command: tuple[str, ...] = ()
    head_probes: Probes = Probes()
    worker_probes: Probes = Probes()
    uses_ray: bool = False
    #: Seconds a pod may take from start to serving (group formation + model load).
    startup_budget_seconds: int = 0
