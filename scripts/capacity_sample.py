#!/usr/bin/env python3
"""Regenerates the generated parts of docs/capacity.md (and its SVG) from the capacity modules themselves.

Why: the worked example, the tables, the rejection messages, the Mermaid
diagram and the picture in the docs must be what the code computes. Blocks sit
between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`; `--check`
(run by tests/test_capacity_docs.py) fails when any block or the SVG is stale,
`--write` rewrites them.

Usage: python scripts/capacity_sample.py [--check | --write]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Optional

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from vllm_fleet.capacity import (  # noqa: E402
    GPUS,
    GpuRequest,
    Pricing,
    catalog,
    catalog_architecture,
    cost_delta,
    gpu_memory_bytes,
    parallelism_issues,
    plan_memory,
    stack_cost,
)
from vllm_fleet.capacity.memory import BLOCK_SIZE, DEFAULT_RESERVE_BYTES  # noqa: E402
from vllm_fleet.plan_picture import MemoryRow, PlanPictureInput, memory_table, plan_mermaid, plan_svg  # noqa: E402

DOC = PROJECT / "docs" / "capacity.md"
SVG = PROJECT / "docs" / "images" / "plan-qwen-72b.svg"
GIB = 2**30
ACCELERATOR = "NVIDIA-H100-80GB-HBM3"
#: The prod stack's models: (name, model id, TP, PP, GPUs per pod, max-model-len).
SAMPLE = (
    ("llama-405b", "meta-llama/Llama-3.1-405B-Instruct", 16, 1, (8, 8), 8192),
    ("llama-70b", "meta-llama/Llama-3.3-70B-Instruct", 8, 1, (8,), 32768),
    ("qwen-72b", "Qwen/Qwen2.5-72B-Instruct", 4, 3, (4, 8), None),
)
PRICING = Pricing.model_validate({"H100": 2.5})
_BLOCK = re.compile(r"(<!-- generated:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /generated:(?P=name) -->)", re.S)


def _plans():
    memory = gpu_memory_bytes(ACCELERATOR)
    for name, model_id, tensor, pipeline, pods, length in SAMPLE:
        yield name, tensor, pipeline, pods, plan_memory(catalog_architecture(model_id), memory, tensor, pipeline, length)


def memory_rows() -> str:
    rows = [MemoryRow(name, ACCELERATOR, t, p, plan.weights, plan.kv_room, plan.kv_tokens, plan.max_model_len, plan.sequences)
            for name, t, p, _, plan in _plans()]
    return memory_table(rows)


def picture() -> PlanPictureInput:
    name, tensor, pipeline, pods, plan = [entry for entry in _plans() if entry[0] == "qwen-72b"][0]
    return PlanPictureInput(name, tensor, pipeline, pods, 1, plan.weights, plan.kv_room, plan.kv_tokens)


def worked_example() -> str:
    arch = catalog_architecture("meta-llama/Llama-3.1-70B-Instruct")
    plan = plan_memory(arch, 80 * GIB, tensor=8, max_model_len=32768)
    lines = [
        f"- weights: {arch.parameters:,} parameters × 2 bytes = {arch.weight_bytes:,.0f} bytes "
        f"({arch.weight_bytes / 1e9:.1f} GB, {arch.weight_bytes / GIB:.1f} GiB); per GPU ÷ 8 = {plan.weights:,.0f} bytes",
        f"- KV per token per GPU: 2 × 80 layers × (8 KV heads ÷ 8) × 128 × 2 bytes = {plan.kv_bytes_per_token:,.0f} bytes",
        f"- KV room per GPU: 80 GiB × 0.9 − weights − {DEFAULT_RESERVE_BYTES // GIB} GiB reserve = {plan.kv_room:,.0f} bytes "
        f"({plan.kv_room / GIB:.1f} GiB)",
        f"- tokens: ⌊room ÷ ({plan.kv_bytes_per_token:,.0f} × {BLOCK_SIZE})⌋ × {BLOCK_SIZE} = **{plan.kv_tokens:,} tokens**, "
        f"{plan.sequences:.1f} sequences of 32,768",
    ]
    return "\n".join(lines) + "\n"


def rejections() -> str:
    llama70 = catalog_architecture("meta-llama/Llama-3.1-70B-Instruct")
    llama405 = catalog_architecture("meta-llama/Llama-3.1-405B-Instruct")
    h100, l4 = gpu_memory_bytes(ACCELERATOR), gpu_memory_bytes("L4")
    llama8 = catalog_architecture("meta-llama/Llama-3.1-8B-Instruct")
    cases = (
        ("Llama-3.1-70B, TP=7", parallelism_issues(llama70, 7, 1, None)),
        ("Llama-3.1-70B, PP=96", parallelism_issues(llama70, 8, 96, None)),
        ("Llama-3.1-70B, max-model-len 200000", parallelism_issues(llama70, 8, 1, 200000)),
        ("Llama-3.1-405B on one H100", plan_memory(llama405, h100).issues),
        ("Llama-3.1-8B on one L4, max-model-len 131072", plan_memory(llama8, l4).issues),
        ("Llama-3.1-8B on one L4, max-model-len 8192", plan_memory(llama8, l4, max_model_len=8192).issues),
    )
    return "\n".join(f"- {title}: {issue.severity} at `{'.'.join(issue.field)}`: {issue.message}"
                     for title, issues in cases for issue in issues) + "\n"


def cost_example() -> str:
    before = stack_cost([GpuRequest("H100", 16, 16), GpuRequest("H100", 8, 8), GpuRequest("H100", 12, 12)], PRICING)
    after = stack_cost([GpuRequest("H100", 16, 16), GpuRequest("H100", 8, 8), GpuRequest("H100", 16, 16),
                        GpuRequest("L4", 1, 4)], PRICING)
    [h100] = [cost for cost in after.values() if cost.accelerator == "H100"]
    return (f"After: {h100.max_gpus} H100, {h100.max_gpu_hours:,} GPU-hours/day, ${h100.max_cost:,}/day.\n\n```\n"
            + "\n".join(cost_delta(before, after)) + "\n```\n")


def gpu_table() -> str:
    lines = ["| type | memory | also matches | source |", "|---|---|---|---|"]
    for gpu in GPUS:
        lines.append(f"| {gpu.name} | {gpu.memory_bytes / GIB:.1f} GiB | {', '.join(gpu.aliases)} | {gpu.source} |")
    return "\n".join(lines) + "\n"


def catalog_table() -> str:
    lines = ["| model ids | layers | heads / KV heads | attention | parameters (active) | context | dtype |",
             "|---|---|---|---|---|---|---|"]
    for entry in {id(e): e for e in catalog().values()}.values():
        arch = entry.architecture("")
        active = f" ({arch.active_parameters / 1e9:.1f}B)" if arch.active_parameters else ""
        kind = arch.attention + (f", {arch.sliding_layers} sliding ({arch.sliding_window})" if arch.sliding_layers else "")
        lines.append(f"| {'<br>'.join(entry.ids)} | {arch.layers} | {arch.attention_heads} / {arch.kv_heads} | {kind} | "
                     f"{arch.parameters / 1e9:.1f}B{active} | {arch.max_context:,} | {arch.quantization or arch.dtype} |")
    return "\n".join(lines) + "\n"


def blocks() -> dict[str, str]:
    return {
        "worked-example": worked_example(), "rejections": rejections(), "memory-table": memory_rows(),
        "mermaid": plan_mermaid(picture()), "cost": cost_example(), "gpus": gpu_table(), "catalog": catalog_table(),
    }


def regenerate(text: str, generated: dict[str, str]) -> str:
    found = {m.group("name") for m in _BLOCK.finditer(text)}
    missing = sorted(set(generated) - found)
    if missing:
        raise SystemExit(f"error: no <!-- generated:NAME --> block for: {', '.join(missing)}")
    return _BLOCK.sub(lambda m: m.group(1) + generated[m.group("name")] + m.group(4), text)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 when a generated block or the SVG is stale")
    mode.add_argument("--write", action="store_true", help="rewrite the generated blocks and the SVG")
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8")
    updated, svg = regenerate(text, blocks()), plan_svg(picture())
    if args.write:
        DOC.write_text(updated, encoding="utf-8")
        SVG.parent.mkdir(parents=True, exist_ok=True)
        SVG.write_text(svg, encoding="utf-8")
        return 0
    if args.check:
        current_svg = SVG.read_text(encoding="utf-8") if SVG.exists() else ""
        pairs = ((DOC, text, updated), (SVG, current_svg, svg))
        stale = [str(path.relative_to(PROJECT)) for path, old, new in pairs if old != new]
        if stale:
            print(f"{', '.join(stale)}: stale; run scripts/capacity_sample.py --write", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
