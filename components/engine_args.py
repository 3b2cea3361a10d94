"""The one place that turns `engineArgs` into `vllm serve` flags.

Head, workers and every template use `engine_flags`; rendering flags in two
places is how other charts ended up with flags that exist on one path only.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

# Flags the platform owns: setting them in engineArgs would contradict the plan.
RESERVED_FLAGS: dict[str, str] = {
    "model": "set the model's `model` and `storage` instead",
    "served-model-name": "set the model's `servedModelName` instead",
    "tensor-parallel-size": "set `parallelism.tensor` instead",
    "pipeline-parallel-size": "set `parallelism.pipeline` instead",
    "distributed-executor-backend": "it is chosen by the launcher",
    "nnodes": "it is set by the launcher from the GPU plan",
    "node-rank": "it is set by the launcher from the GPU plan",
    "master-addr": "it is set by the launcher",
    "master-port": "set the native launcher's `masterPort` instead",
    "headless": "it is set by the launcher on worker pods",
    "host": "the server listens on all pod addresses",
    "port": "set the model's `api.port` instead",
    "api-key": "put the key in a Kubernetes Secret; it must not appear in a pod spec",
}

_FLAG_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def flag_name(key: str) -> str:
    """'max_model_len', 'maxModelLen' and '--max-model-len' all mean 'max-model-len'."""
    key = key.lstrip("-")
    key = re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", key).lower()
    return key.replace("_", "-")


def check_engine_args(engine_args: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Returns (key, problem) for each key that can't become a flag."""
    problems = []
    seen: dict[str, str] = {}
    for key, value in engine_args.items():
        name = flag_name(key)
        if not _FLAG_NAME.match(name):
            problems.append((key, f"is not a valid flag name (got {key!r})"))
        elif name in RESERVED_FLAGS:
            problems.append((key, f"is managed by vllm-fleet: {RESERVED_FLAGS[name]}"))
        elif name in seen:
            problems.append((key, f"repeats {seen[name]!r} (both mean --{name})"))
        if value is None:
            problems.append((key, "has no value; use true for a bare flag"))
        seen[name] = key
    return problems


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def engine_flags(engine_args: Mapping[str, Any]) -> list[str]:
    """true -> --flag, false -> --no-flag, list -> --flag a b, mapping -> --flag '<json>'."""
    flags: list[str] = []
    for key in sorted(engine_args):
        name, value = flag_name(key), engine_args[key]
        if value is True:
            flags.append(f"--{name}")
        elif value is False:
            flags.append(f"--no-{name}")
        elif isinstance(value, (list, tuple)):
            flags.extend([f"--{name}", *(_text(item) for item in value)])
        elif isinstance(value, Mapping):
            flags.extend([f"--{name}", json.dumps(value, sort_keys=True, separators=(",", ":"))])
        else:
            flags.extend([f"--{name}", _text(value)])
    return flags
