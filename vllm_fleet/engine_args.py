"""The one place that turns `engineArgs` into `vllm serve` flags.

Head, workers and every template use `engine_flags`; rendering flags in two
places is how other charts ended up with flags that exist on one path only.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping, Optional

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
    "shutdown-timeout": "set the model's `drain.timeoutSeconds` instead (the pod's grace period is sized from it)",
}

# Flags that carry a secret, and the config key that keeps it one. In argv it is
# visible to anyone who can list pods; in the entrypoint ConfigMap, to anyone who reads it.
SECRET_FLAGS: dict[str, str] = {
    "api-key": "vllm-fleet:apiKey (`pulumi config set --secret vllm-fleet:apiKey <key>`)",
    "hf-token": "vllm-fleet:hfToken (`pulumi config set --secret vllm-fleet:hfToken hf_...`)",
}
# Words that make any flag a secret-bearer, for flags vLLM may add later (`--foo-token`).
# Whole words only: `max-num-batched-tokens` and `tokenizer` are not secrets.
_SECRET_WORDS = {"token", "key", "password", "passwd", "secret", "credential", "credentials"}

_FLAG_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def flag_name(key: str) -> str:
    """'max_model_len', 'maxModelLen' and '--max-model-len' all mean 'max-model-len'."""
    key = key.lstrip("-")
    key = re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", key).lower()
    return key.replace("_", "-")


def _owned_flag(name: str) -> Optional[str]:
    """The platform or secret flag that `--name` would set in vLLM, if any.

    vLLM's parser accepts any unambiguous prefix of a flag (`--tensor-parallel`
    is `--tensor-parallel-size`), and booleans have a `--no-` form, so a key
    that is a prefix of an owned flag is that flag.
    """
    for candidate in (name, name[3:] if name.startswith("no-") else None):
        if not candidate:
            continue
        for owned in (*RESERVED_FLAGS, *SECRET_FLAGS):
            if owned.startswith(candidate):
                return owned
    return None


def _flag_problem(key: str, name: str) -> Optional[str]:
    if not _FLAG_NAME.match(name):
        return f"is not a valid flag name (got {key!r})"
    owned = _owned_flag(name)
    alias = "" if owned == name else f" (vLLM reads --{name} as --{owned}, an abbreviation)"
    if owned in SECRET_FLAGS:
        return (
            f"--{owned} carries a secret{alias}; in engineArgs it would sit in argv and the ConfigMap. "
            f"Set {SECRET_FLAGS[owned]} instead"
        )
    if owned is not None:
        return f"--{owned} is managed by vllm-fleet{alias}: {RESERVED_FLAGS[owned]}"
    secret_words = sorted(_SECRET_WORDS.intersection(name.split("-")))
    if secret_words:
        return (
            f"looks like it carries a secret ({', '.join(secret_words)}); in engineArgs it would sit in argv "
            "and the ConfigMap. Use vllm-fleet:apiKey / vllm-fleet:hfToken, or a file in an image"
        )
    return None


def check_engine_args(engine_args: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Returns (key, problem) for each key that can't become a flag."""
    problems = []
    seen: dict[str, str] = {}
    for key, value in engine_args.items():
        name = flag_name(key)
        problem = _flag_problem(key, name)
        if problem:
            problems.append((key, problem))
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
