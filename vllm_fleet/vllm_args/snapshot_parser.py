"""An argparse parser rebuilt from a schema snapshot: vLLM's serve parser without vLLM.

It accepts what vLLM's accepts in the ways argparse decides them: unknown
flags, abbreviations (vLLM's parser allows unambiguous prefixes, and so does
this one), value counts, choices, and the value conversions vLLM uses (int,
float, JSON, human-readable integers). A JSON config's keys are checked by
`engine_args` against the config's fields; the values inside it, which vLLM's
pydantic validation checks, are not (the installed-vLLM path does that).
"""

from __future__ import annotations

import argparse
import json
import re
from functools import lru_cache
from typing import Any, Callable, Optional

from .live import ParserError
from .schema import ArgOption, ArgSchema


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"Value {text} is not JSON ({error})") from None


def _dict_or_str(text: str) -> Any:
    return _json(text) if re.match(r"(?s)^\s*{.*}\s*$", text) else text


_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def human_readable_int(text: str) -> int:
    """vLLM's `human_readable_int`: 1k = 1000, 1K = 1024, 25.6k = 25600; no decimals with K/M/G/T."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgGtT])", text.strip())
    if not match:
        return int(text)
    number, suffix = match.groups()
    if suffix in _DECIMAL:
        return int(float(number) * _DECIMAL[suffix])
    if "." in number:
        raise argparse.ArgumentTypeError(f"Decimals are not allowed with binary suffixes like {suffix}")
    return int(number) * _BINARY[suffix]


def _human_readable_int_or_auto(text: str) -> int:
    return -1 if text.strip() in ("-1",) or text.strip().lower() == "auto" else human_readable_int(text)


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": int,
    "float": float,
    "json": _json,
    "dataclass": _json,
    "dict_or_str": _dict_or_str,
    "human_readable_int": human_readable_int,
    "human_readable_int_or_auto": _human_readable_int_or_auto,
    "lower_underscore": lambda text: text.lower().replace("-", "_"),
    "opaque": str,
}


def _converter(option: ArgOption) -> Optional[Callable[[str], Any]]:
    if option.type is None:
        return None
    base = _CONVERTERS.get(option.type, str)

    def convert(text: str) -> Any:
        return None if option.optional and text in ("", "None") else base(text)

    # argparse names the type in its "invalid <type> value" message, as vLLM's does.
    convert.__name__ = option.type
    return convert


class _BooleanPair(argparse.Action):
    """A boolean pair (`--x` / `--no-x`, or 0.33's `--enable-x` / `--disable-x`): the flag used says the value."""

    def __init__(self, option_strings, dest, negative=(), **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)
        self.negative = set(negative)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, option_string not in self.negative)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # noqa: D401 - argparse's hook
        raise ParserError(message)


_PLAIN_ACTIONS = {"store_true", "store_false", "store_const", "count", "append_const"}


def _add(parser: argparse.ArgumentParser, option: ArgOption) -> None:
    # No defaults: argparse would run string defaults through the converter, and
    # what is checked here is only what the argv says.
    kwargs: dict[str, Any] = {"dest": option.dest}
    if option.action == "boolean_optional":
        parser.add_argument(*option.flags, action=_BooleanPair, negative=option.negative_flags, **kwargs)
    elif option.action in _PLAIN_ACTIONS:
        if option.action in ("store_const", "append_const"):
            kwargs["const"] = option.const
        parser.add_argument(*option.flags, action=option.action, **kwargs)
    elif option.action in ("help", "version"):
        parser.add_argument(*option.flags, action="store_true", dest=option.dest)
    else:
        kwargs.update(type=_converter(option), choices=option.choices)
        if option.nargs is not None:
            kwargs["nargs"] = option.nargs
        if option.nargs == "?" or option.const is not None:
            kwargs["const"] = option.const
        parser.add_argument(*option.flags, action="append" if option.action == "append" else "store", **kwargs)


@lru_cache(maxsize=None)
def snapshot_parser(schema: ArgSchema) -> argparse.ArgumentParser:
    """The serve parser of `schema`'s vLLM: its options, and the positional model."""
    parser = _Parser(prog="vllm serve", add_help=False, allow_abbrev=True)
    parser.add_argument("model_tag", nargs="?")
    for option in schema.options:
        _add(parser, option)
    return parser


def parse(schema: ArgSchema, argv: list[str]) -> argparse.Namespace:
    return snapshot_parser(schema).parse_args(argv)
