"""The GPU plan of a model as a picture: an SVG, a Mermaid flowchart for PR comments, and a memory table.

Why: "TP=4 × PP=3 on 8-GPU nodes" is hard to read as numbers; a picture shows
which GPU holds which tensor rank and pipeline stage, which pod it sits in,
and how much of its memory goes to weights and to KV cache.

Inputs are plain numbers (no stack config), so the plan can call this per
role and per replica. Ranks follow vLLM: global rank r fills the pods in
order (the head first), with tensor rank `r % TP` and pipeline stage `r // TP`.
Every position is computed here; the templates under templates/capacity/ only draw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, Optional, Sequence

import jinja2

from .capacity.memory import gib
from .summary import PlanSummary
from .templates import TEMPLATE_DIR, render

GPU_WIDTH, GPU_HEIGHT, GAP, PAD, HEADER = 150, 74, 8, 12, 26
GPUS_PER_ROW = 4
#: Space above the pods for the two title lines, and the width one title character takes (14 px sans-serif).
TITLE_HEIGHT, TITLE_CHAR_WIDTH = 56, 8
#: Fill colour of a GPU by pipeline stage (cycled).
STAGE_COLOURS = ("#dbeafe", "#dcfce7", "#fef9c3", "#fce7f3", "#ede9fe", "#ffedd5")


@dataclass(frozen=True)
class PlanPictureInput:
    """One model's plan: parallelism, GPUs of each pod in rank order, replicas, memory per GPU in bytes."""

    model: str
    tensor: int
    pipeline: int
    pod_gpus: tuple[int, ...]
    replicas: int = 1
    weights_per_gpu: float = 0.0
    kv_room_per_gpu: float = 0.0
    kv_tokens: Optional[int] = None
    #: False when the model or its GPU is unknown: the picture shows ranks, not memory.
    memory_planned: bool = True
    #: An autoscaled model's fewest groups (None: fixed); `replicas` is then its most, as drawn.
    min_replicas: Optional[int] = None

    def __post_init__(self) -> None:
        if sum(self.pod_gpus) != self.tensor * self.pipeline or min(self.pod_gpus, default=0) < 1:
            raise ValueError(
                f"pods of {list(self.pod_gpus)} GPUs don't hold TP×PP = {self.tensor}×{self.pipeline} "
                f"= {self.tensor * self.pipeline} GPUs"
            )
        if self.replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {self.replicas}")


@dataclass(frozen=True)
class GpuCell:
    replica: int
    pod: int
    gpu: int
    rank: int
    tp: int
    pp: int
    x: int
    y: int
    colour: str

    @property
    def node_id(self) -> str:
        """An id Mermaid accepts whatever the model is called."""
        return f"r{self.replica}p{self.pod}g{self.gpu}"


@dataclass(frozen=True)
class PodBox:
    replica: int
    pod: int
    gpus: int
    x: int
    y: int
    width: int
    height: int
    cells: tuple[GpuCell, ...]

    @property
    def role(self) -> str:
        return "head" if self.pod == 0 else f"worker {self.pod - 1}"


def _pod_size(gpus: int) -> tuple[int, int]:
    columns = min(gpus, GPUS_PER_ROW)
    rows = -(-gpus // GPUS_PER_ROW)
    return (2 * PAD + columns * GPU_WIDTH + (columns - 1) * GAP,
            HEADER + PAD + rows * GPU_HEIGHT + (rows - 1) * GAP)


def layout(plan: PlanPictureInput) -> list[PodBox]:
    """Pods of each replica stacked in a column, replicas side by side; GPUs in rows of four."""
    column_width = max(_pod_size(g)[0] for g in plan.pod_gpus) + 2 * GAP
    boxes = []
    for replica in range(plan.replicas):
        x, y, rank = PAD + replica * column_width, TITLE_HEIGHT, 0
        for pod, gpus in enumerate(plan.pod_gpus):
            width, height = _pod_size(gpus)
            cells = []
            for gpu in range(gpus):
                row, column = divmod(gpu, GPUS_PER_ROW)
                stage = rank // plan.tensor
                cells.append(GpuCell(
                    replica, pod, gpu, rank, rank % plan.tensor, stage,
                    x + PAD + column * (GPU_WIDTH + GAP), y + HEADER + row * (GPU_HEIGHT + GAP),
                    STAGE_COLOURS[stage % len(STAGE_COLOURS)],
                ))
                rank += 1
            boxes.append(PodBox(replica, pod, gpus, x, y, width, height, tuple(cells)))
            y += height + 2 * GAP
    return boxes


def _titles(plan: PlanPictureInput) -> tuple[str, str]:
    replicas = f"{plan.replicas} replica(s)"
    if plan.min_replicas is not None and plan.min_replicas != plan.replicas:
        replicas = f"{plan.min_replicas}–{plan.replicas} replicas (autoscaled; drawn at the most)"
    title = f"{plan.model} · TP={plan.tensor} × PP={plan.pipeline} · {replicas}"
    if not plan.memory_planned:
        return title, "no memory plan: the model or its GPU type is unknown (docs/capacity.md)"
    tokens = f" ({plan.kv_tokens:,} tokens of KV cache)" if plan.kv_tokens is not None else ""
    return title, f"per GPU: weights {gib(plan.weights_per_gpu)}, KV room {gib(plan.kv_room_per_gpu)}{tokens}"


def _context(plan: PlanPictureInput) -> dict:
    boxes = layout(plan)
    titles = _titles(plan)
    return {
        "plan": plan, "boxes": boxes, "gib": gib, "titles": titles,
        "width": max(max(b.x + b.width for b in boxes) + PAD, max(map(len, titles)) * TITLE_CHAR_WIDTH + 2 * PAD),
        "height": max(b.y + b.height for b in boxes) + PAD,
        "gpu_width": GPU_WIDTH, "gpu_height": GPU_HEIGHT,
    }


@lru_cache(maxsize=1)
def _svg_environment() -> jinja2.Environment:
    """XML-escaping on by default: a model name is user text inside the SVG."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True, undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
    )


def plan_svg(plan: PlanPictureInput) -> str:
    return _svg_environment().get_template("capacity/plan.svg.j2").render(**_context(plan))


def mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label: anything but plain characters as a `#code;` entity."""
    return re.sub(r"[^A-Za-z0-9 ._/:+×·-]", lambda m: f"#{ord(m.group())};", text)


def plan_mermaid(plan: PlanPictureInput) -> str:
    """A fenced ```mermaid block (GitHub renders it inline in a PR comment)."""
    return render("capacity/plan.mmd.j2", label=mermaid_text, **_context(plan))


@dataclass(frozen=True)
class MemoryRow:
    """One line of the memory table: a model (or role) and its memory per GPU in bytes."""

    model: str
    accelerator: str
    tensor: int
    pipeline: int
    weights_per_gpu: float
    kv_room_per_gpu: float
    kv_tokens: int
    max_model_len: int
    sequences: float


def markdown_cell(text: str) -> str:
    """A table cell can't hold a pipe or a newline."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def memory_table(rows: Sequence[MemoryRow]) -> str:
    return render("capacity/memory-table.md.j2", rows=rows, gib=gib, cell=markdown_cell)


# ------------------------------------------------------------ from a render


def pod_gpus(row: PlanSummary) -> tuple[int, ...]:
    """GPUs of each pod of one group, head first, as the plan summary gives them."""
    return (row.head_gpus,) + (row.worker_gpus,) * (row.pods - 1)


def picture_input(name: str, row: PlanSummary) -> PlanPictureInput:
    """One model's picture from its plan summary (the stack output `models.<name>`)."""
    return PlanPictureInput(
        name, row.tensor, row.pipeline, pod_gpus(row), max(row.max_replicas, 1), row.weights_per_gpu,
        row.kv_room_per_gpu, row.kv_tokens, memory_planned=row.kv_tokens is not None,
        min_replicas=row.min_replicas if row.min_replicas != row.max_replicas else None,
    )


def summaries(outputs: Mapping[str, Any]) -> dict[str, PlanSummary]:
    return {name: PlanSummary.from_output(row) for name, row in outputs.get("models", {}).items()}


def plan_pictures(outputs: Mapping[str, Any]) -> dict[str, str]:
    """`<model>.svg` → the SVG of each model of a render's outputs."""
    return {f"{name}.svg": plan_svg(picture_input(name, row)) for name, row in summaries(outputs).items()}


def memory_rows(models: Mapping[str, PlanSummary]) -> list[MemoryRow]:
    """The memory table's rows: every model with a memory plan."""
    from .summary import gpu_type

    return [
        MemoryRow(name, gpu_type(row), row.tensor, row.pipeline, row.weights_per_gpu, row.kv_room_per_gpu,
                  row.kv_tokens, row.max_model_len, row.sequences)
        for name, row in models.items()
        if row.kv_tokens is not None
    ]
