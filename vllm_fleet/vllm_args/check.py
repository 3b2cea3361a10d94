"""Which vLLM's arguments a model is checked against, and the check of each role's `vllm serve` argv.

The arguments must be those of the vLLM the pods will run: the version in the
model's image tag (`vllm/vllm-openai:v0.33.0`). The installed vLLM's own
parser is used when it is that version; otherwise the shipped snapshot of
that version; when neither exists (another version, or a tag that names
none) the closest stand-in is used and the plan says so in a note naming the
`image` key, because a flag can exist in one release and not the next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional

from . import live, snapshot_parser
from .live import ParserError
from .schema import ArgSchema, load_snapshot, snapshot_versions, version_key

_TAG_VERSION = re.compile(r"v?(\d+\.\d+\.\d+)(?:[.+-].*)?")


@dataclass(frozen=True)
class ArgChecker:
    """vLLM's serve arguments of one version, and the parser that reads them."""

    schema: ArgSchema
    uses_installed_vllm: bool
    #: Why these arguments may not be the image's (None when they are).
    mismatch: Optional[str] = None

    def parse(self, argv: list[str]) -> Any:
        """vLLM's reading of `argv`; raises ParserError with vLLM's message."""
        if self.uses_installed_vllm:
            return live.parse(argv)
        return snapshot_parser.parse(self.schema, argv)


def image_vllm_version(image: str) -> Optional[str]:
    """`vllm/vllm-openai:v0.33.0` -> `0.33.0`; None for a digest or a tag that names no version."""
    if "@" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    match = _TAG_VERSION.fullmatch(last.split(":", 1)[1])
    return match.group(1) if match else None


@lru_cache(maxsize=1)
def _installed_parser_problem() -> Optional[str]:
    """Why the installed vLLM's parser can't be built (a broken install), or None when it can."""
    try:
        live.live_schema()
    except Exception as error:  # noqa: BLE001 - any failure to load vLLM means: use the snapshots
        return f"the installed vLLM did not load its parser ({type(error).__name__}: {error})"
    return None


@lru_cache(maxsize=None)
def checker_for(image: str) -> ArgChecker:
    """The arguments `image`'s vLLM takes, or the closest stand-in and why it is one.

    vLLM is imported (seconds) only when its version is the image's, or when
    it is the only stand-in.
    """
    wanted = image_vllm_version(image)
    installed = live.installed_version()
    shipped = snapshot_versions()
    if wanted is not None and wanted == installed and _installed_parser_problem() is None:
        return ArgChecker(live.live_schema(), True)
    if wanted in shipped:
        return ArgChecker(load_snapshot(wanted), False)
    runs = f"runs vLLM {wanted}" if wanted else "names no vLLM version in its tag"
    footer = f"(snapshots: {', '.join(shipped)}; add one with scripts/vllm_arg_schema.py)"
    if installed is not None and _installed_parser_problem() is None:
        mismatch = f"{image} {runs}; engineArgs were checked against the installed vLLM {installed}'s arguments {footer}"
        return ArgChecker(live.live_schema(), True, mismatch)
    older = [v for v in shipped if wanted is None or version_key(v) <= version_key(wanted)]
    stand_in = older[-1] if older else shipped[0]  # the nearest release at or below, else the oldest
    broken = f"; {_installed_parser_problem()}" if installed is not None else ""
    mismatch = f"{image} {runs}{broken}; engineArgs were checked against the snapshot of vLLM {stand_in}'s arguments {footer}"
    return ArgChecker(load_snapshot(stand_in), False, mismatch)


__all__ = ["ArgChecker", "ParserError", "checker_for", "image_vllm_version"]
