"""Reads `vllm-fleet:*` keys from the Pulumi runtime into a plain dict for `load_fleet`.

Pulumi hands every value over as a string (objects as JSON). Secret keys are
returned as `SecretValue` so the code that uses them can keep them secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pulumi.runtime import config as runtime_config

from .errors import CONFIG_NAMESPACE


@dataclass(frozen=True)
class SecretValue:
    """A config value set with `pulumi config set --secret`; never printed."""

    value: Any

    def __repr__(self) -> str:
        return "SecretValue(<redacted>)"


def _decode(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_stack_config() -> dict[str, Any]:
    prefix = f"{CONFIG_NAMESPACE}:"
    keys = {*runtime_config.CONFIG.get(), *runtime_config.get_config_env()}
    raw: dict[str, Any] = {}
    for key in sorted(k for k in keys if k.startswith(prefix)):
        value = _decode(runtime_config.get_config(key))
        raw[key[len(prefix):]] = SecretValue(value) if runtime_config.is_config_secret(key) else value
    return raw
