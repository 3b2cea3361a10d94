"""The plan of one model in a few numbers and words: the stack output, the CLI table and the PR diff read it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping, Optional

from pydantic.alias_generators import to_camel


_TUPLES = ("notes", "weights_claims", "warnings")


@dataclass(frozen=True)
class PlanSummary:
    tensor: int
    pipeline: int
    #: Pods and GPUs of one group, then how many groups run behind the API.
    pods: int
    head_gpus: int
    worker_gpus: int
    group_gpus: int
    replicas: int
    #: The groups an autoscaler may run (both `replicas` without one).
    min_replicas: int
    max_replicas: int
    #: Every GPU the model requests at `replicas` groups: replicas × TP×PP.
    total_gpus: int
    launcher: str
    workload: str
    api_url: str
    weights: str = ""
    cache: str = "none"
    network: str = ""
    rdma: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Claims the weights live on, created here or not: the offline diff knows what a namespace holds.
    weights_claims: tuple[str, ...] = field(default_factory=tuple)
    #: The MIG profile each "GPU" is ('mig-1g.10gb'), empty for whole GPUs: the counts above are then slices.
    gpu_slice: str = ""
    #: Where the groups land (`placement`): 'pack <key>', 'spread <key>', or 'any'.
    placement: str = "any"
    #: Findings of the plan that don't stop the deploy, each with its key path.
    warnings: tuple[str, ...] = field(default_factory=tuple)
    #: The GPU type ('' when nothing names it) and the memory plan of the fullest GPU, in bytes and tokens
    #: (vllm_fleet/capacity_plan.py); `kv_tokens` None: no memory plan (unknown model or GPU).
    accelerator: str = ""
    gpu_memory: int = 0
    weights_per_gpu: int = 0
    kv_room_per_gpu: int = 0
    kv_tokens: Optional[int] = None
    max_model_len: int = 0
    sequences: float = 0.0
    #: The model's priority tier ("": the cluster's default) and how its groups are scheduled ("": default scheduler).
    priority: str = ""
    scheduling: str = ""

    @property
    def gpu_range(self) -> tuple[int, int]:
        """GPUs at the fewest and the most groups (`total_gpus` twice for a fixed count)."""
        if self.min_replicas == self.max_replicas == self.replicas:
            return self.total_gpus, self.total_gpus
        return self.min_replicas * self.group_gpus, self.max_replicas * self.group_gpus

    def to_output(self) -> dict[str, Any]:
        """The stack output `models.<name>` (camelCase keys, as outputs.json holds them)."""
        return {to_camel(key): list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_output(cls, row: Mapping[str, Any]) -> "PlanSummary":
        """Reads an output back; keys a render from before replicas and workloads lacks take today's defaults."""
        legacy = {"groupGpus": row.get("totalGpus"), "replicas": 1, "workload": "statefulsets"}
        values = {**legacy, **row}
        values = {"minReplicas": values["replicas"], "maxReplicas": values["replicas"], **values}
        return cls(**{
            f.name: tuple(values[to_camel(f.name)]) if f.name in _TUPLES else values[to_camel(f.name)]
            for f in fields(cls)
            if to_camel(f.name) in values
        })


# ------------------------------------------------------------------ cost


#: How the plan table and the PR comment name GPUs of a model whose type nothing names.
UNKNOWN_GPU = "unknown GPU"


def gpu_type(row: PlanSummary) -> str:
    """The GPU type as the GPU table names it ('H100-80GB-SXM' for 'NVIDIA-H100-80GB-HBM3'), else as written."""
    from .capacity.gpus import GPUS, canonical_accelerator

    if not row.accelerator:
        return UNKNOWN_GPU
    name = canonical_accelerator(row.accelerator)
    return name if any(gpu.name == name for gpu in GPUS) else row.accelerator


def gpu_request(row: PlanSummary, min_gpus: Optional[int] = None, max_gpus: Optional[int] = None):
    """The GPUs one model requests as a cost request: `total_gpus`, or a min..max range (autoscaling) when given."""
    from .capacity.cost import GpuRequest

    low = row.total_gpus if min_gpus is None else min_gpus
    high = row.total_gpus if max_gpus is None else max_gpus
    return GpuRequest(gpu_type(row), low, high)


def pricing_of(prices: Mapping[str, Any]):
    """The stack output `pricing` ({type: "2.49"}) back as the capacity module's `Pricing`."""
    from .capacity.cost import Pricing

    return Pricing.model_validate({name: str(price) for name, price in (prices or {}).items()})


def stack_costs(models: Mapping[str, PlanSummary], prices: Mapping[str, Any]) -> dict:
    """GPUs, GPU-hours/day and cost/day per GPU type (`capacity.cost.stack_cost`) of a stack's models."""
    from .capacity.cost import stack_cost

    return stack_cost((gpu_request(row, *row.gpu_range) for row in models.values()), pricing_of(prices))


def money(amount) -> str:
    return f"${amount:,.2f}"


def model_cost_per_day(row: PlanSummary, prices: Mapping[str, Any]) -> str:
    """The model's cost per day, or '-' when its GPU type has no price."""
    from .capacity.cost import value_range

    cost = next(iter(stack_costs({"model": row}, prices).values()))
    if cost.max_cost is None:
        return "-"
    return value_range(cost.min_cost, cost.max_cost, money)


def stack_total_line(models: Mapping[str, PlanSummary], prices: Mapping[str, Any]) -> str:
    """"40 H100-80GB-SXM, 960 GPU-hours/day, $2,390.40/day": what the stack requests and costs per day."""
    from .capacity.cost import value_range

    costs = list(stack_costs(models, prices).values())
    gpus = ", ".join(value_range(c.min_gpus, c.max_gpus, str) + f" {c.accelerator}" for c in costs)
    hours = value_range(sum(c.min_gpu_hours for c in costs), sum(c.max_gpu_hours for c in costs), lambda n: f"{n:,}")
    priced = [c for c in costs if c.price is not None]
    line = f"{gpus}; {hours} GPU-hours/day"
    if priced:
        line += "; " + value_range(sum(c.min_cost for c in priced), sum(c.max_cost for c in priced), money) + "/day"
    unpriced = [c.accelerator for c in costs if c.price is None]
    if unpriced:
        line += f" (no price per GPU-hour for {', '.join(unpriced)}: set vllm-fleet:pricing)"
    return line
