"""The plugin system: a small protocol per kind, and a registry fed by entry points.

Built-in plugins are declared in this project's own `pyproject.toml` under the
`vllm_fleet.plugins` entry-point group, exactly as a third-party package would
declare its own. The entry-point name is `<kind>.<name>` (e.g. `launcher.ray`).

This package is the core's side (discovery and checks). What a plugin may use,
the protocols included, is `vllm_fleet.sdk` and nothing else.
"""

from .registry import PLUGIN_GROUP, Registry

__all__ = ["PLUGIN_GROUP", "Registry"]
