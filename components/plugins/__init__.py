"""The plugin system: a small protocol per kind, and a registry fed by entry points.

Built-in plugins are declared in this project's own `pyproject.toml` under the
`vllm_fleet.plugins` entry-point group, exactly as a third-party package would
declare its own. The entry-point name is `<kind>.<name>` (e.g. `launcher.ray`).
"""

from .protocol import (
    KIND_METHODS,
    CachePlugin,
    LauncherPlugin,
    NetworkPlugin,
    Plugin,
    PluginSettings,
    StoragePlugin,
)
from .registry import PLUGIN_GROUP, Registry
from .types import (
    CachePlan,
    Entrypoints,
    MountSource,
    NetworkPlan,
    ObjectSpec,
    PodAdditions,
    Probes,
    SecretKeyRef,
    WeightsPlan,
)

__all__ = [
    "KIND_METHODS",
    "PLUGIN_GROUP",
    "CachePlan",
    "CachePlugin",
    "Entrypoints",
    "LauncherPlugin",
    "MountSource",
    "NetworkPlan",
    "NetworkPlugin",
    "ObjectSpec",
    "Plugin",
    "PluginSettings",
    "PodAdditions",
    "Probes",
    "Registry",
    "SecretKeyRef",
    "StoragePlugin",
    "WeightsPlan",
]
