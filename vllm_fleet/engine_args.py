"""The one place that turns `engineArgs` into `vllm serve` flags.

Head, workers and every template use `engine_flags`; rendering flags in two
places is how other charts ended up with flags that exist on one path only.

How a value becomes flags is read from vLLM's own parser (its schema: the
installed vLLM's, or the snapshot of the image's version, see
vllm_fleet/vllm_args/): a switch with a negative form takes `false` as
`--no-x`, a switch without one leaves `false` out (its default) or refuses
it; a flag taking several values gets them as separate words, a repeatable
flag gets itself repeated, a JSON flag gets JSON; a JSON config's keys must
be the config's (snake_case) fields. Keys this module refuses are reported
by `translation_problems` with their key path and left out of the argv.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping, Optional

from .errors import did_you_mean
from .vllm_args.schema import ArgOption, ArgSchema

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


#: A path below the engineArgs key (("speculative-config", "numSpeculativeTokens")) and what is wrong.
Problem = tuple[tuple[str, ...], str]
_SWITCH_WORDS = {"true": True, "false": False}
#: Config keys vLLM renamed (old -> new), for the hint only: the schema decides what is accepted.
_RENAMED_CONFIG_KEYS = {("CompilationConfig", "level"): "mode"}


def resolve_flag(name: str, schema: ArgSchema) -> tuple[Optional[ArgOption], str]:
    """The option `--name` is in `schema`, or None and why not (unknown, ambiguous, abbreviated)."""
    flag = f"--{name}"
    option = schema.option(flag)
    if option is not None:
        return option, ""
    matches = [candidate for candidate in schema.long_flags() if candidate.startswith(flag)]
    version = f"vLLM {schema.vllm_version}"
    if len(matches) == 1:
        return None, (
            f"--{name} is an abbreviation of {matches[0]}; write the full name (a later vLLM flag can make it ambiguous)"
        )
    if matches:
        shown = ", ".join(matches[:5]) + (" ..." if len(matches) > 5 else "")
        return None, f"--{name} is ambiguous in {version}'s parser: it could be {shown}"
    hint = did_you_mean(name, [f[2:] for f in schema.long_flags()])
    return None, f"--{name} is not a `vllm serve` flag in {version}{hint}"


def _describe(option: ArgOption) -> str:
    if option.choices:
        return "one of " + ", ".join(str(choice) for choice in option.choices if choice is not None)
    return {
        "int": "an integer", "float": "a number", "human_readable_int": "an integer (1k, 2M allowed)",
        "human_readable_int_or_auto": "an integer (1k, 2M allowed) or auto", "json": "JSON (a map or list)",
        "dataclass": "a map (JSON)", "dict_or_str": "a map (JSON) or text",
    }.get(option.type or "", "a value")


def _switch(flag: str, option: ArgOption, value: Any) -> tuple[list[str], Optional[str]]:
    """A flag without a value: true/false (or the quoted words) say whether it is on."""
    if option.action in ("help", "version"):
        return [], f"{flag} is not a serving option (it prints and exits)"
    on = _SWITCH_WORDS.get(value.lower()) if isinstance(value, str) else value
    if not isinstance(on, bool):
        return [], f"{flag} is a switch: write true or false, got {value!r}"
    if on:
        return [flag], None
    if option.action == "boolean_optional":
        if flag in option.negative_flags:  # `no-x: false`: x on
            return [next(f for f in option.flags if f.startswith("--") and f not in option.negative_flags)], None
        # `--no-x` is in every release; 0.33's `--disable-x` for `--enable-x` is not in 0.32.
        negatives = [f for f in option.negative_flags if f == f"--no-{flag[2:]}"] or list(option.negative_flags)
        return [negatives[0]], None
    if not option.default or option.action == "store_false":
        return [], None  # off is the default: nothing to pass
    return [], f"{flag} has no negative form in vLLM's parser; leave the key out to keep its default"


def _sequence(flag: str, option: ArgOption, value: list) -> tuple[list[str], Optional[str]]:
    if option.nargs in ("+", "*") or isinstance(option.nargs, int):
        if isinstance(option.nargs, int) and len(value) != option.nargs:
            return [], f"{flag} takes exactly {option.nargs} values, got {len(value)}"
        if not value and option.nargs == "+":
            return [], f"{flag} needs at least one value"
        return [flag, *(_text(item) for item in value)], None
    if option.action == "append":
        return [word for item in value for word in (flag, _text(item))], None
    if option.takes_json:
        return [flag, json.dumps(value, separators=(",", ":"))], None
    return [], f"{flag} takes one value ({_describe(option)}), not a list"


def _value(flag: str, option: ArgOption, value: Any) -> tuple[list[str], Optional[str]]:
    """A flag that takes a value: lists, maps and booleans each as vLLM's parser reads them."""
    if isinstance(value, bool):
        if option.nargs == "?" and option.const is True:
            if value:
                return [flag], None
            return ([], None) if not option.default else ([], f"{flag} can't be turned off; leave the key out")
        return [], f"{flag} takes {_describe(option)}, not {str(value).lower()}"
    if isinstance(value, (list, tuple)):
        return _sequence(flag, option, list(value))
    if isinstance(value, Mapping):
        if not option.takes_json:
            return [], f"{flag} takes {_describe(option)}, not a map"
        return [flag, json.dumps(value, sort_keys=True, separators=(",", ":"))], None
    return [flag, _text(value)], None


def config_key_problems(value: Mapping, config: str, schema: ArgSchema, path: tuple[str, ...] = ()) -> list[Problem]:
    """Keys of a JSON config that vLLM's config class doesn't have (camelCase, renamed, unknown)."""
    fields = schema.configs.get(config)
    if fields is None:
        return []
    problems: list[Problem] = []
    for key, item in value.items():
        here = path + (str(key),)
        if key in fields:
            if fields[key] and isinstance(item, Mapping):
                problems += config_key_problems(item, fields[key], schema, here)
            continue
        snake = flag_name(str(key)).replace("-", "_")
        if snake in fields:
            message = f"vLLM's {config} calls it `{snake}`: its JSON keys are snake_case"
        elif (config, key) in _RENAMED_CONFIG_KEYS:
            message = f"vLLM {schema.vllm_version}'s {config} has no `{key}`: it was renamed `{_RENAMED_CONFIG_KEYS[config, key]}`"
        else:
            message = f"vLLM {schema.vllm_version}'s {config} has no key `{key}`{did_you_mean(str(key), fields)}"
        problems.append((here, message))
    return problems


def translate(key: str, value: Any, schema: ArgSchema) -> tuple[list[str], list[Problem]]:
    """The flags one engineArgs entry becomes, or why it can't become any."""
    option, why = resolve_flag(flag_name(key), schema)
    if option is None:
        return [], [((), why)]
    flag = f"--{flag_name(key)}"
    if option.nargs == 0:
        words, problem = _switch(flag, option, value)
    else:
        words, problem = _value(flag, option, value)
    if problem:
        return [], [((), problem)]
    if option.config and isinstance(value, Mapping):
        nested = config_key_problems(value, option.config, schema)
        if nested:
            return [], nested
    return words, []


def translation_problems(engine_args: Mapping[str, Any], schema: ArgSchema) -> list[tuple[str, tuple[str, ...], str]]:
    """(key, path below it, problem) for each engineArgs entry vLLM's parser would refuse or misread."""
    return [(key, path, message) for key in engine_args for path, message in translate(key, engine_args[key], schema)[1]]


def engine_flags(engine_args: Mapping[str, Any], schema: ArgSchema) -> list[str]:
    """The `vllm serve` flags of `engine_args`, in key order; keys with a problem are left out (and reported)."""
    flags: list[str] = []
    for key in sorted(engine_args):
        words, problems = translate(key, engine_args[key], schema)
        if not problems:
            flags.extend(words)
    return flags
