"""Discovers plugins through the `vllm_fleet.plugins` entry-point group and checks them."""

from __future__ import annotations

import inspect
from importlib import metadata
from typing import Any, Iterable, Optional

from pydantic import BaseModel

from ..errors import PluginValidationError
from .protocol import KIND_METHODS

PLUGIN_GROUP = "vllm_fleet.plugins"
#: `network: none` in a model switches off a stack default; no plugin may take the name.
NO_PLUGIN = "none"


def validate_plugin(plugin: Any, source: str) -> None:
    """Fails clearly when `plugin` doesn't implement its kind's protocol."""
    problems = []
    kind = getattr(plugin, "kind", None)
    if kind not in KIND_METHODS:
        problems.append(f"kind must be one of {sorted(KIND_METHODS)}, got {kind!r}")
    if not isinstance(getattr(plugin, "name", None), str) or not plugin.name:
        problems.append("name must be a non-empty string")
    elif plugin.name == NO_PLUGIN:
        problems.append(f"the name {NO_PLUGIN!r} is reserved: in a config it switches a plugin slot off")
    settings = getattr(plugin, "Settings", None)
    if not (inspect.isclass(settings) and issubclass(settings, BaseModel)):
        problems.append("Settings must be a pydantic BaseModel subclass")
    for method in KIND_METHODS.get(kind, ()):
        if not callable(getattr(plugin, method, None)):
            problems.append(f"a {kind} plugin must define {method}()")
    if kind == "launcher" and not isinstance(getattr(plugin, "uniform_pods", None), bool):
        problems.append("a launcher plugin must set uniform_pods: bool")
    if problems:
        raise PluginValidationError(f"plugin {source}: " + "; ".join(problems))


class Registry:
    def __init__(self, plugins: Iterable[Any] = ()):
        self._plugins: dict[tuple[str, str], Any] = {}
        for plugin in plugins:
            self.register(plugin)

    @classmethod
    def discover(cls, group: str = PLUGIN_GROUP) -> "Registry":
        registry = cls()
        for entry_point in sorted(metadata.entry_points(group=group), key=lambda ep: ep.name):
            loaded = entry_point.load()
            plugin = loaded() if inspect.isclass(loaded) else loaded
            source = f"{entry_point.name} ({entry_point.value})"
            validate_plugin(plugin, source)
            expected = f"{plugin.kind}.{plugin.name}"
            if entry_point.name != expected:
                raise PluginValidationError(
                    f"plugin {source}: entry point must be named {expected!r} after its kind and name"
                )
            registry.register(plugin, source)
        return registry

    def register(self, plugin: Any, source: Optional[str] = None) -> None:
        source = source or repr(plugin)
        validate_plugin(plugin, source)
        key = (plugin.kind, plugin.name)
        if key in self._plugins and self._plugins[key] is not plugin:
            raise PluginValidationError(f"plugin {source}: a {plugin.kind} plugin named {plugin.name!r} is already registered")
        self._plugins[key] = plugin

    def find(self, kind: str, name: str) -> Optional[Any]:
        return self._plugins.get((kind, name))

    def names(self, kind: str) -> list[str]:
        return sorted(name for plugin_kind, name in self._plugins if plugin_kind == kind)
