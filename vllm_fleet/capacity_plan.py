"""The capacity modules wired to the stack: a model's GPU type, vLLM's rules and its memory plan.

Why here and not in plan.py: the capacity package knows no stack config (plain
inputs, see vllm_fleet/capacity/); this module reads a model's config and node
pool once, calls it, and turns every finding into the plan's language (a key
path relative to the model, an error or a warning). `plan.plan_fleet` calls
`plan_capacity` per model in its one pass, so a stack with TP=7 for a
64-head model fails before any object is rendered.

A model the catalog doesn't know (and that gives no `modelInfo` or
`modelConfigFile`), or a GPU whose memory is unknown, still deploys: the
plan warns that the memory plan is skipped, and the stack's
`requireMemoryPlan: true` turns that into an error. vLLM's parallelism rules
need only the architecture, so they run even when the GPU is unknown.

With vLLM importable, a model described by `modelConfigFile` is also built by
vLLM itself (capacity/vllm_check.py); what it rejects replaces the restated
rule of the same key. Without vLLM only the restated rules run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Optional

from .capacity.gpus import GPUS, canonical_accelerator, gpu_memory_bytes, mig_profile, product_label
from .capacity.inputs import GPU_PRODUCT_LABEL, architecture_for, memory_engine_args
from .capacity.memory import CapacityIssue, MemoryPlan, parallelism_issues, plan_memory
from .capacity.model_info import CapacityInputError
from .capacity.vllm_check import vllm_config_issues
from .config import ModelConfig, NodePool
from .engine_args import flag_name
from .errors import PlanError, did_you_mean
from .vllm_args.check import image_vllm_version
from .vllm_args.live import installed_version


@dataclass(frozen=True)
class CapacityPlan:
    """What the plan knows of one model's GPUs: type, memory, and the memory plan of its fullest GPU."""

    #: The GPU type as the stack names it ('' when nothing names one).
    accelerator: str = ""
    gpu_memory: Optional[int] = None
    memory: Optional[MemoryPlan] = None
    #: Findings that don't stop the deploy (key path relative to the model, message).
    warnings: tuple[CapacityIssue, ...] = ()


def _finding(error: CapacityInputError, severity: str = "error") -> CapacityIssue:
    """A capacity module's message starts with the key it is about (`engineArgs.max-model-len: …`)."""
    text = str(error)
    key, sep, message = text.partition(": ")
    if not sep or " " in key:
        return CapacityIssue(severity, (), text)
    return CapacityIssue(severity, tuple(key.split(".", 1)) if key.startswith("engineArgs.") else (key,), message)


def pin_accelerator(config: ModelConfig, node_pool: NodePool, pool_path: str) -> NodePool:
    """The node pool with `nvidia.com/gpu.product` pinned to the model's `accelerator`, when it names one.

    A pool that already pins another GPU type is an error (the pods could never
    be scheduled on both); one that pins the same type keeps its own label.
    """
    if config.accelerator is None:
        return node_pool
    pinned = node_pool.node_selector.get(GPU_PRODUCT_LABEL)
    if pinned is not None:
        if canonical_accelerator(pinned) != canonical_accelerator(config.accelerator):
            raise PlanError(("accelerator",), (
                f"{config.accelerator!r} conflicts with {pool_path}.nodeSelector {GPU_PRODUCT_LABEL}={pinned}: "
                f"set the same GPU type in both, or drop one"))
        return node_pool
    label = product_label(config.accelerator)
    if label is None:
        return node_pool  # no NVIDIA product label to pin (AMD, or a type the GPU table lacks)
    return node_pool.model_copy(update={"node_selector": {**node_pool.node_selector, GPU_PRODUCT_LABEL: label}})


def _gpu(config: ModelConfig, node_pool: NodePool) -> tuple[str, Optional[int], list[CapacityIssue]]:
    """The GPU type, its memory, and why the memory is unknown (a warning), or an error for a bad explicit key."""
    # A MIG slice is its own type to count and price (`mig-1g.10gb`), whatever GPU it is cut from.
    accelerator = (
        mig_profile(node_pool.gpu_resource) or config.accelerator or node_pool.node_selector.get(GPU_PRODUCT_LABEL) or ""
    )
    try:
        memory = gpu_memory_bytes(accelerator or None, node_pool.gpu_resource, config.gpu_memory)
    except CapacityInputError as error:
        if config.accelerator is not None:
            return accelerator, None, [CapacityIssue("error", ("accelerator",), str(error))]
        if accelerator:
            why = f"the node pool's {GPU_PRODUCT_LABEL}={accelerator} is not in the GPU table (docs/capacity.md)"
        else:
            why = f"nothing names the GPU type (no accelerator, no {GPU_PRODUCT_LABEL} in the node pool's nodeSelector)"
        return accelerator, None, [CapacityIssue("warning", ("accelerator",), (
            f"memory plan skipped: {why}; set accelerator (e.g. H100) or gpuMemory (e.g. '80Gi')"))]
    return accelerator, memory, []


def _vllm_findings(
    config: ModelConfig, args: Mapping[str, Any], engine: Optional[dict], image: str, base_dir: Path
) -> list[CapacityIssue]:
    """What the installed vLLM rejects of a `modelConfigFile` model; nothing when vLLM isn't importable.

    Errors when the installed vLLM is the image's version; otherwise warnings
    saying so (another release may serve what this one rejects). A model that
    needs trust-remote-code is not built: that would run its code at plan time.
    """
    installed = installed_version()
    remote_code = str(args.get("trust-remote-code", False)).lower() == "true"
    if installed is None or config.model_info is not None or config.model_config_file is None or remote_code:
        return []
    found = vllm_config_issues(
        base_dir / config.model_config_file, config.parallelism.tensor, config.parallelism.pipeline,
        max_model_len=engine["max_model_len"] if engine else None,
        dtype=None if args.get("dtype") is None else str(args["dtype"]),
        quantization=None if args.get("quantization") is None else str(args["quantization"]))
    wanted = image_vllm_version(image)
    if wanted == installed:
        return found
    runs = f"runs vLLM {wanted}" if wanted else "names no vLLM version"
    return [replace(f, severity="warning", message=f"{f.message} (said by the installed vLLM {installed}; {image} {runs})")
            for f in found]


def plan_capacity(
    config: ModelConfig, node_pool: NodePool, require_memory_plan: bool = False, base_dir: Path = Path("."),
    image: str = "",
) -> tuple[CapacityPlan, list[CapacityIssue]]:
    """A model's capacity plan, and every finding (errors and warnings) with its key path relative to the model.

    `require_memory_plan` turns "memory plan skipped" warnings into errors;
    `image` decides whether the installed vLLM's rejections are errors (see `_vllm_findings`).
    """
    findings: list[CapacityIssue] = []
    # engineArgs may spell a flag maxModelLen or max_model_len (engine_flags reads them all): read it as vLLM's flag.
    args = {flag_name(key): value for key, value in config.engine_args.items()}
    try:
        engine = memory_engine_args(args)
    except CapacityInputError as error:
        findings.append(_finding(error))
        engine = None
    try:
        arch = architecture_for(config.model, config.capacity, base_dir)
    except CapacityInputError as error:
        arch = None
        unknown_model = config.model_info is None and config.model_config_file is None
        if unknown_model:
            reason = str(error).partition(": ")[2]
            error = CapacityInputError(f"model: memory plan and vLLM's parallelism checks skipped: {reason}")
        findings.append(_finding(error, "warning" if unknown_model else "error"))
    accelerator, memory, gpu_findings = _gpu(config, node_pool)
    findings += gpu_findings
    tensor, pipeline = config.parallelism.tensor, config.parallelism.pipeline
    memory_plan = None
    if arch is not None and engine is not None:
        if memory is not None:
            memory_plan = plan_memory(arch, memory, tensor, pipeline, **engine)
            findings += memory_plan.issues
        else:
            findings += parallelism_issues(arch, tensor, pipeline, engine["max_model_len"])
    if arch is not None:
        vllm_found = _vllm_findings(config, args, engine, image, base_dir)
        rejected = {f.field for f in vllm_found if f.severity == "error"}
        findings = [f for f in findings if f.field not in rejected or f.severity != "error"] + vllm_found
    if require_memory_plan:
        findings = [replace(f, severity="error") if f.message.startswith("memory plan") else f for f in findings]
    warnings = tuple(f for f in findings if f.severity == "warning")
    return CapacityPlan(accelerator, memory, memory_plan, warnings), findings


def pricing_issues(priced: list[str], accelerators: list[str]) -> list[tuple[str, str]]:
    """(key, message) for each priced type that is neither in the GPU table nor used by a model: a typo prices nothing."""
    table = {gpu.name for gpu in GPUS}
    known = table | {canonical_accelerator(name) for name in accelerators if name}
    names = sorted(table | {name for name in accelerators if name and canonical_accelerator(name) not in table})
    spellings = [*names, *(alias for gpu in GPUS for alias in gpu.aliases)]
    return [
        (name, f"{name!r} is no GPU type of the GPU table nor of a model of this stack{did_you_mean(name, spellings)}; "
               f"known: {', '.join(names)}")
        for name in priced
        if canonical_accelerator(name) not in known
    ]
