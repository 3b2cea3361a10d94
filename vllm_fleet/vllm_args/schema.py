"""vLLM's `vllm serve` arguments as plain data: read from vLLM's own parser, or from a snapshot of it.

Why data: installing vLLM is heavy, so the tool must check engineArgs without
it. `extract_schema` reads every action of the real serve parser (flags, how
many values, the value's type, choices, the negative `--no-` form) and the
fields of each JSON config a flag takes (`--compilation-config` ->
CompilationConfig); `scripts/vllm_arg_schema.py` writes that to
`vllm_fleet/data/vllm_args/vllm-<version>.json`, and the same function runs on
the live parser when `vllm` is importable, so both paths read one shape.

The type of a value is named, not pickled: vLLM builds its parser from
dataclass type hints with a handful of converters (int, float, str,
`json.loads`, `human_readable_int`, a dataclass validator ...). Each is given a
name here; a converter this module doesn't know is recorded as `opaque` (any
text passes the snapshot; the live parser still converts it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional

SNAPSHOT_DIR = Path(__file__).resolve().parents[1] / "data" / "vllm_args"
SCHEMA_FORMAT = 1

#: argparse action class -> what the flag does with its value(s).
_ACTIONS = {
    "_StoreAction": "store",
    "_StoreTrueAction": "store_true",
    "_StoreFalseAction": "store_false",
    "_StoreConstAction": "store_const",
    "BooleanOptionalAction": "boolean_optional",
    "_AppendAction": "append",
    "_AppendConstAction": "append_const",
    "_CountAction": "count",
    "_HelpAction": "help",
    "_VersionAction": "version",
}
#: Value types whose text vLLM parses as JSON (a map or a list is written as JSON).
JSON_TYPES = frozenset({"json", "dict_or_str", "dataclass"})


@dataclass(frozen=True)
class ArgOption:
    """One optional argument of `vllm serve`, as its parser defines it."""

    flags: tuple[str, ...]
    dest: str
    action: str
    nargs: Optional[Any] = None
    type: Optional[str] = None
    optional: bool = False
    choices: Optional[tuple] = None
    const: Any = None
    default: Any = None
    #: The vLLM config class whose JSON the flag takes (`CompilationConfig`), when known.
    config: Optional[str] = None
    #: Of a boolean pair: the flags that set False.
    negative_flags: tuple[str, ...] = ()

    @property
    def takes_json(self) -> bool:
        return self.type in JSON_TYPES


@dataclass(frozen=True, eq=False)
class ArgSchema:
    """Every `vllm serve` option of one vLLM version, and the fields of its JSON configs."""

    vllm_version: str
    options: tuple[ArgOption, ...]
    #: Config class -> field name -> the nested config class of that field, or None.
    configs: dict[str, dict[str, Optional[str]]]
    by_flag: dict[str, ArgOption] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_flag", {flag: opt for opt in self.options for flag in opt.flags})

    def option(self, flag: str) -> Optional[ArgOption]:
        return self.by_flag.get(flag)

    def long_flags(self) -> list[str]:
        return sorted(flag for flag in self.by_flag if flag.startswith("--"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ArgSchema":
        if data.get("format") != SCHEMA_FORMAT:
            raise ValueError(f"vLLM argument schema format {data.get('format')!r}; this tool reads {SCHEMA_FORMAT}")
        options = tuple(
            ArgOption(**{
                **raw,
                "flags": tuple(raw["flags"]),
                "negative_flags": tuple(raw.get("negative_flags", ())),
                "choices": _tuple(raw.get("choices")),
            })
            for raw in data["options"]
        )
        return cls(data["vllm_version"], options, data["configs"])


def _tuple(value: Optional[list]) -> Optional[tuple]:
    return None if value is None else tuple(value)


def snapshot_versions() -> list[str]:
    """The vLLM versions with a shipped snapshot, oldest first."""
    names = (path.stem.removeprefix("vllm-") for path in SNAPSHOT_DIR.glob("vllm-*.json"))
    return sorted(names, key=version_key)


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


@lru_cache(maxsize=None)
def load_snapshot(version: str) -> ArgSchema:
    path = SNAPSHOT_DIR / f"vllm-{version}.json"
    return ArgSchema.from_dict(json.loads(path.read_text()))


# ------------------------------------------------------------ from vLLM itself


def _closure_values(function: Callable) -> list[Any]:
    return [cell.cell_contents for cell in (getattr(function, "__closure__", None) or ())]


def _type_name(converter: Optional[Callable]) -> tuple[Optional[str], bool, Optional[type]]:
    """(type name, None-able, dataclass) of one argparse `type=` converter built by vLLM."""
    if converter is None:
        return None, False, None
    if converter in (str, int, float):
        return converter.__name__, False, None
    if converter is json.loads:
        return "json", False, None
    qualname = getattr(converter, "__qualname__", "")
    if qualname.startswith(("optional_type.", "parse_type.")):
        inner = next((value for value in _closure_values(converter) if callable(value)), None)
        name, _, config = _type_name(inner)
        return name, qualname.startswith("optional_type.") or False, config
    if qualname.endswith("parse_dataclass"):
        return "dataclass", False, (converter.__defaults__ or (None,))[0]
    if qualname in ("human_readable_int", "human_readable_int_or_auto", "union_dict_and_str"):
        return {"union_dict_and_str": "dict_or_str"}.get(qualname, qualname), False, None
    return _probe(converter), False, None


def _probe(converter: Callable) -> str:
    """A lambda vLLM wrote inline: named by what it does, not by its source."""
    try:
        if converter("Ab-C") == "ab_c":
            return "lower_underscore"
    except Exception:  # noqa: BLE001 - a converter that rejects the probe is simply not this one
        pass
    return "opaque"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and all(v is None or isinstance(v, (bool, int, float, str)) for v in value):
        return list(value)
    return None


def _dataclass_in(hint: Any) -> Optional[type]:
    """The dataclass inside a type hint (`SpeculativeConfig | None` -> SpeculativeConfig)."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return hint
    for arg in typing.get_args(hint):
        found = _dataclass_in(arg)
        if found is not None:
            return found
    return None


def _config_fields(config: type, configs: dict[str, dict[str, Optional[str]]]) -> None:
    """Records `config`'s fields, and those of each nested config, once each."""
    if config.__name__ in configs:
        return
    try:
        hints = typing.get_type_hints(config)
    except Exception:  # noqa: BLE001 - a hint that can't resolve still names its field
        hints = {}
    entry: dict[str, Optional[str]] = {}
    configs[config.__name__] = entry
    for item in dataclasses.fields(config):
        if item.name.startswith("_"):
            continue
        nested = _dataclass_in(hints.get(item.name, item.type))
        entry[item.name] = nested.__name__ if nested is not None else None
        if nested is not None:
            _config_fields(nested, configs)


def _action_kind(action: argparse.Action) -> str:
    """The standard action `action` is, or extends (0.33's EnableDisableAction is a BooleanOptionalAction)."""
    for cls in type(action).__mro__:
        if cls.__name__ in _ACTIONS:
            return _ACTIONS[cls.__name__]
    return "store"


def _negative_flags(action: argparse.Action, flags: list[str]) -> Optional[list[str]]:
    """The flags of a boolean pair that set False (`--no-x`; 0.33 adds `--disable-x` for `--enable-x`)."""
    if _action_kind(action) != "boolean_optional":
        return None
    negative = getattr(action, "negative_option_strings", None)
    if negative is None:
        negative = {flag for flag in flags if flag.startswith("--no-")}
    return sorted(negative)


def _option(
    action: argparse.Action, flags: list[str], top_configs: dict[str, type], configs: dict
) -> Optional[dict[str, Any]]:
    if not flags:
        return None
    type_name, optional, config = _type_name(action.type)
    if type_name in JSON_TYPES and config is None:
        config = top_configs.get(action.dest)
    if config is not None:
        _config_fields(config, configs)
    option = {
        "flags": flags,
        "negative_flags": _negative_flags(action, flags),
        "dest": action.dest,
        "action": _action_kind(action),
        "nargs": action.nargs,
        "type": type_name,
        "optional": optional,
        "choices": _jsonable(list(action.choices)) if action.choices is not None else None,
        "const": _jsonable(action.const),
        "default": _jsonable(action.default),
        "config": config.__name__ if config is not None else None,
    }
    if not optional:
        del option["optional"]
    return {key: value for key, value in option.items() if value is not None}


def extract_schema(parser: argparse.ArgumentParser, vllm_config: type, version: str) -> dict[str, Any]:
    """The schema of `parser` (vLLM's serve parser) as JSON-ready data.

    `vllm_config` is vLLM's VllmConfig: its fields say which config class a JSON
    flag such as `--speculative-config` (typed plain `json.loads`) becomes.
    """
    top_configs = {}
    for item in dataclasses.fields(vllm_config):
        found = _dataclass_in(typing.get_type_hints(vllm_config).get(item.name, item.type))
        if found is not None:
            top_configs[item.name] = found
    configs: dict[str, dict[str, Optional[str]]] = {}
    # Every string the parser accepts, hidden aliases included (0.33 keeps `--no-enable-x` out of help).
    registered: dict[int, list[str]] = {}
    for flag, action in parser._option_string_actions.items():
        registered.setdefault(id(action), []).append(flag)
    options = []
    for action in parser._actions:
        flags = [f for f in action.option_strings if f in registered.get(id(action), [])]
        flags += sorted(set(registered.get(id(action), [])) - set(flags))
        option = _option(action, flags, top_configs, configs)
        if option:
            options.append(option)
    options.sort(key=lambda opt: opt["flags"][0])
    return {
        "format": SCHEMA_FORMAT,
        "vllm_version": version,
        "options": options,
        "configs": {name: dict(sorted(fields.items())) for name, fields in sorted(configs.items())},
    }
