"""Reads `vllm-fleet:*` keys from the Pulumi runtime into a plain dict for `load_fleet`.

Pulumi hands every value over as a string (objects as JSON). Secret keys are
returned as `SecretValue` so the code that uses them can keep them secret.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from pulumi.runtime import config as runtime_config

from .errors import CONFIG_NAMESPACE, ConfigError, Issue


@dataclass(frozen=True)
class SecretValue:
    """A config value set with `pulumi config set --secret`; never printed."""

    value: Any

    def __repr__(self) -> str:
        return "SecretValue(<redacted>)"


# What `vllm-fleet render` accepts as a stack file; the CLI hands over the same values as text.
MAX_VALUE_CHARS = 2 * 1024 * 1024
MAX_DEPTH = 64


def _depth(value: Any, limit: int) -> bool:
    """True when `value` nests deeper than `limit` (checked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False


def _decode(key: str, text: Any) -> Any:
    """A value as the CLI hands it over (text; objects as JSON), bounded like a stack file."""
    if not isinstance(text, str):
        return text
    if len(text) > MAX_VALUE_CHARS:
        raise ConfigError([Issue(key, f"is {len(text)} characters; a config value is at most {MAX_VALUE_CHARS}")])
    try:
        value = json.loads(text)
    except RecursionError:
        raise ConfigError([Issue(key, f"nests more than {MAX_DEPTH} levels deep")]) from None
    except ValueError:
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return text  # NaN and Infinity are JSON extensions, not numbers a setting can hold
    if _depth(value, MAX_DEPTH):
        raise ConfigError([Issue(key, f"nests more than {MAX_DEPTH} levels deep")])
    return value


def _secret(text: Any, value: Any) -> SecretValue:
    """A secret is text: `pulumi config set --secret vllm-fleet:apiKey 12345` is the string '12345'."""
    return SecretValue(text if isinstance(text, str) and not isinstance(value, (dict, list)) else value)


def read_stack_config() -> dict[str, Any]:
    """Every `vllm-fleet:*` key; a value that can't be read raises ConfigError naming the key."""
    prefix = f"{CONFIG_NAMESPACE}:"
    keys = {*runtime_config.CONFIG.get(), *runtime_config.get_config_env()}
    raw: dict[str, Any] = {}
    issues: list[Issue] = []
    for key in sorted(k for k in keys if k.startswith(prefix)):
        text = runtime_config.get_config(key)
        try:
            value = _decode(key, text)
        except ConfigError as error:
            issues += error.issues
            continue
        raw[key[len(prefix):]] = _secret(text, value) if runtime_config.is_config_secret(key) else value
    if issues:
        raise ConfigError(issues)
    return raw
