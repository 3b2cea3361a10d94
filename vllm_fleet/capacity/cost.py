"""What a stack's GPUs cost: GPUs requested (min/max with autoscaling), GPU-hours and cost per day, and deltas.

Why: a PR that turns TP=8 into TP=16 doubles a bill; the preview diff should say
so in money ("+16 H100 → +$960.00/day"), not only in objects. Money is `Decimal`
(no float rounding in a sum of prices) and a GPU is billed whole hours of the
day it is requested: `GPU-hours/day = GPUs × 24`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable, Mapping, Optional

from pydantic import Field, RootModel, field_validator

from .gpus import canonical_accelerator

HOURS_PER_DAY = 24
CENT = Decimal("0.01")


class Pricing(RootModel[dict[str, Decimal]]):
    """The stack's `pricing:` block: price per GPU-hour by accelerator type (`{H100: 2.5, A100-80GB: 1.8}`)."""

    root: dict[str, Decimal] = Field(default_factory=dict)

    @field_validator("root")
    @classmethod
    def _positive(cls, prices: dict[str, Decimal]) -> dict[str, Decimal]:
        for name, price in prices.items():
            if not name.strip():
                raise ValueError("an accelerator type must not be empty")
            if not price.is_finite() or price < 0:
                raise ValueError(f"{name}: a price per GPU-hour is a number ≥ 0, got {price}")
        keys = [canonical_accelerator(name) for name in prices]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(
                f"{', '.join(duplicates)}: priced more than once "
                "(names of one GPU type match: case, 'NVIDIA-' and the GPU table's aliases)"
            )
        return prices

    def price(self, accelerator: str) -> Optional[Decimal]:
        """The price of an accelerator type; 'H100' prices 'NVIDIA-H100-80GB-HBM3' too (the GPU table's aliases)."""
        wanted = canonical_accelerator(accelerator)
        return next((price for name, price in self.root.items() if canonical_accelerator(name) == wanted), None)


@dataclass(frozen=True)
class GpuRequest:
    """GPUs one model (or role) asks for: `min_gpus` at the floor of autoscaling, `max_gpus` at its ceiling."""

    accelerator: str
    min_gpus: int
    max_gpus: int

    def __post_init__(self) -> None:
        if not 0 <= self.min_gpus <= self.max_gpus:
            raise ValueError(f"GPUs requested must satisfy 0 ≤ min ≤ max, got {self.min_gpus}..{self.max_gpus}")


@dataclass(frozen=True)
class AcceleratorCost:
    """One accelerator type across a stack: GPUs, GPU-hours per day and cost per day (None: no price set)."""

    accelerator: str
    min_gpus: int
    max_gpus: int
    price: Optional[Decimal]

    @property
    def min_gpu_hours(self) -> int:
        return self.min_gpus * HOURS_PER_DAY

    @property
    def max_gpu_hours(self) -> int:
        return self.max_gpus * HOURS_PER_DAY

    @property
    def min_cost(self) -> Optional[Decimal]:
        return None if self.price is None else _cents(self.min_gpu_hours * self.price)

    @property
    def max_cost(self) -> Optional[Decimal]:
        return None if self.price is None else _cents(self.max_gpu_hours * self.price)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def stack_cost(requests: Iterable[GpuRequest], pricing: Pricing = Pricing()) -> dict[str, AcceleratorCost]:
    """GPUs, GPU-hours/day and cost/day per accelerator type (keyed by the type as first written)."""
    totals: dict[str, list] = {}
    names: dict[str, str] = {}
    for request in requests:
        key = canonical_accelerator(request.accelerator)
        names.setdefault(key, request.accelerator)
        low, high = totals.setdefault(key, [0, 0])
        totals[key] = [low + request.min_gpus, high + request.max_gpus]
    return {
        names[key]: AcceleratorCost(names[key], low, high, pricing.price(names[key]))
        for key, (low, high) in totals.items()
    }


def _money(amount: Decimal) -> str:
    sign = "-" if amount < 0 else "+"
    return f"{sign}${abs(amount):,.2f}"


def value_range(low, high, show) -> str:
    """`show(low)`, or `show(low)..show(high)` for a range (an autoscaled model's GPUs, hours, cost)."""
    return show(low) if low == high else f"{show(low)}..{show(high)}"


def _gpus(count: int) -> str:
    return f"{count:+d}"


def cost_delta(before: Mapping[str, AcceleratorCost], after: Mapping[str, AcceleratorCost]) -> list[str]:
    """One line per accelerator type whose GPU count changes: "+16 H100 → +$960.00/day".

    With autoscaling the counts and costs are ranges ("+8..+16 H100 → +$480.00..+$960.00/day");
    without a price for the type the line says so instead of inventing one.
    """
    keys = {canonical_accelerator(name): name for name in [*before, *after]}
    lines = []
    for key in sorted(keys):
        old = next((c for n, c in before.items() if canonical_accelerator(n) == key), None)
        new = next((c for n, c in after.items() if canonical_accelerator(n) == key), None)
        name = (new or old).accelerator
        low = (new.min_gpus if new else 0) - (old.min_gpus if old else 0)
        high = (new.max_gpus if new else 0) - (old.max_gpus if old else 0)
        if low == 0 and high == 0:
            continue
        price = (new or old).price
        gpus = value_range(low, high, _gpus)
        if price is None:
            lines.append(f"{gpus} {name} (no price per GPU-hour set for {name})")
            continue
        daily = value_range(_cents(low * HOURS_PER_DAY * price), _cents(high * HOURS_PER_DAY * price), _money)
        lines.append(f"{gpus} {name} → {daily}/day")
    return lines
