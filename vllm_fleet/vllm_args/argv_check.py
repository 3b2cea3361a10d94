"""Every role's exact `vllm serve` argv through vLLM's parser, each refusal traced to its engineArgs key.

The argv is the plan's `serve_args` (model path, the platform's flags, the
translated engineArgs) plus what the launcher appends in its script: Ray's
`--distributed-executor-backend ray`; the native launcher's `--nnodes`,
`--node-rank`, `--master-addr`, `--master-port` and, on workers,
`--headless`. Those values are filled in by the scripts at run time, so
stand-ins of the same type are parsed here (tests/test_vllm_args.py checks
these tails against the rendered scripts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from ..engine_args import check_engine_args, engine_flags, translate, translation_problems
from .check import ArgChecker, ParserError, checker_for

if TYPE_CHECKING:
    from ..plan import ModelPlan

#: (key path below the model, message)
Finding = tuple[tuple, str]


def role_argvs(plan: "ModelPlan") -> dict[str, list[str]]:
    """Each role's `vllm serve` argv as its script runs it (run-time values as stand-ins)."""
    argv = list(plan.serve_args)
    if not plan.gpus.multi_node:
        return {"head": argv}
    launcher = plan.config.launcher.type
    if launcher == "ray":
        return {"head": [*argv, "--distributed-executor-backend", "ray"]}
    if launcher == "native":
        group = ["--nnodes", str(plan.gpus.pods), "--master-addr", "head.invalid", "--master-port", "29501"]
        return {
            "head": [*argv, *group, "--node-rank", "0"],
            "worker": [*argv, *group, "--node-rank", "1", "--headless"],
        }
    return {"head": argv}  # a third-party launcher: its own flags are its business


def _parse_error(checker: ArgChecker, argv: list[str]) -> str | None:
    try:
        checker.parse(argv)
    except ParserError as error:
        return str(error).strip()
    return None


def _blame(checker: ArgChecker, base: list[str], engine_args: Mapping[str, Any], message: str) -> list[Finding]:
    """The engineArgs keys that make the parse fail on their own; the whole block when none does.

    Keys the translator refused are not in the argv, so they are skipped here.
    """
    version = f"vLLM {checker.schema.vllm_version}'s parser"
    found = []
    for key in sorted(engine_args):
        words, problems = translate(key, engine_args[key], checker.schema)
        if problems or not words:
            continue
        error = _parse_error(checker, base + words)
        if error:
            found.append((("engineArgs", key), f"{version} refuses {' '.join(words)!s}: {error}"))
    return found or [(("engineArgs",),  f"{version} refuses these flags together: {message}")]


def serve_arg_findings(plan: "ModelPlan", checker: ArgChecker | None = None) -> list[Finding]:
    """engineArgs vLLM's parser would refuse or misread, and refusals of each role's full argv.

    `checker` defaults to the arguments of the plan's image (tests pass another to compare paths).
    """
    engine_args = plan.config.engine_args
    checker = checker or checker_for(plan.image)
    owned = {key for key, _ in check_engine_args(engine_args)}  # reported by the config check already
    findings: list[Finding] = [
        (("engineArgs", key, *path), message)
        for key, path, message in translation_problems(engine_args, checker.schema)
        if key not in owned
    ]
    flags = engine_flags(engine_args, checker.schema)
    # The translated engineArgs end the shared argv (plan.base_serve_args); the rest is vllm-fleet's own.
    ends_with_flags = not flags or list(plan.serve_args[-len(flags):]) == flags
    base = list(plan.serve_args[: len(plan.serve_args) - len(flags)]) if ends_with_flags else list(plan.serve_args)
    for role, argv in role_argvs(plan).items():
        error = _parse_error(checker, argv)
        if error is None:
            continue
        if _parse_error(checker, base) is not None:
            return [((), f"vLLM {checker.schema.vllm_version}'s parser refuses the {role}'s own vllm-fleet flags: {error}")]
        unreported = {key: value for key, value in engine_args.items() if key not in owned}
        return findings + _blame(checker, base, unreported, error)
    return findings


def image_note(plan: "ModelPlan", image_key: str) -> str | None:
    """A plan note when the arguments checked are not those of the image's vLLM version."""
    mismatch = checker_for(plan.image).mismatch
    return f"{image_key}: {mismatch}" if mismatch else None
