"""The plugin system: a small protocol per kind, and a registry fed by entry points.

Built-in plugins are declared in this project's own `pyproject.toml` under the
`vllm_fleet.plugins` entry-point group, exactly as a third-party package would
declare its own. The entry-point name is `<kind>.<name>` (e.g. `launcher.ray`).
"""

from .protocol import (
    KIND_METHODS,
    AddonPlugin,
    CachePlugin,
    LauncherPlugin,
    NetworkPlugin,
    Plugin,
    PluginSettings,
    StoragePlugin,
    WorkloadPlugin,
)
from .registry import PLUGIN_GROUP, Registry
from .types import (
    CachePlan,
    Entrypoints,
    Membership,
    MountSource,
    NetworkPlan,
    ObjectSpec,
    PodAdditions,
    Probes,
    RolePlan,
    Scheduling,
    SecretKeyRef,
    WeightsPlan,
)

__all__ = [
    "KIND_METHODS",
    "AddonPlugin",
    "PLUGIN_GROUP",
    "CachePlan",
    "CachePlugin",
    "Entrypoints",
    "LauncherPlugin",
    "Membership",
    "MountSource",
    "NetworkPlan",
    "NetworkPlugin",
    "ObjectSpec",
    "Plugin",
    "PluginSettings",
    "PodAdditions",
    "Probes",
    "Registry",
    "RolePlan",
    "Scheduling",
    "SecretKeyRef",
    "StoragePlugin",
    "WeightsPlan",
    "WorkloadPlugin",
]
