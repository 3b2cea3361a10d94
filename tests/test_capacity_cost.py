"""GPUs requested, GPU-hours and cost per day, and the delta line of the preview diff."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from vllm_fleet.capacity import GpuRequest, Pricing, cost_delta, stack_cost

PRICING = Pricing.model_validate({"H100": 2.5, "A100-80GB": "1.85"})


def test_gpu_hours_and_cost_per_day_sum_models_of_one_type():
    costs = stack_cost([GpuRequest("H100", 16, 16), GpuRequest("NVIDIA-H100-80GB-HBM3", 8, 24),
                        GpuRequest("A100-80GB", 4, 4)], PRICING)
    h100 = costs["H100"]
    assert (h100.min_gpus, h100.max_gpus) == (24, 40)
    assert (h100.min_gpu_hours, h100.max_gpu_hours) == (24 * 24, 40 * 24)
    assert (h100.min_cost, h100.max_cost) == (Decimal("1440.00"), Decimal("2400.00"))
    assert costs["A100-80GB"].min_cost == Decimal(4 * 24) * Decimal("1.85")


def test_a_type_without_a_price_has_gpu_hours_but_no_cost():
    [l4] = stack_cost([GpuRequest("L4", 1, 2)], PRICING).values()
    assert (l4.max_gpu_hours, l4.price, l4.max_cost) == (48, None, None)


def test_delta_lines_for_the_diff():
    before = stack_cost([GpuRequest("H100", 8, 8), GpuRequest("A100-80GB", 4, 4)], PRICING)
    after = stack_cost([GpuRequest("H100", 24, 24), GpuRequest("L4", 1, 1)], PRICING)
    assert cost_delta(before, after) == [
        "-4 A100-80GB → -$177.60/day",
        "+16 H100 → +$960.00/day",
        "+1 L4 (no price per GPU-hour set for L4)",
    ]
    assert cost_delta(after, after) == []


def test_delta_with_autoscaling_is_a_range():
    before = stack_cost([GpuRequest("H100", 8, 8)], PRICING)
    after = stack_cost([GpuRequest("H100", 16, 32)], PRICING)
    assert cost_delta(before, after) == ["+8..+24 H100 → +$480.00..+$1,440.00/day"]


@pytest.mark.parametrize(("prices", "message"), [
    ({"H100": -1}, "a price per GPU-hour is a number ≥ 0"),
    ({"H100": True}, "Decimal input should be"),
    ({"H100": "nan"}, "finite number"),
    ({"h100": 1, "NVIDIA-H100-80GB-HBM3": 2}, "priced more than once"),
    ({" ": 1}, "must not be empty"),
])
def test_pricing_rejects_what_is_no_price(prices, message):
    with pytest.raises(ValidationError, match=message):
        Pricing.model_validate(prices)


def test_gpu_request_refuses_min_above_max():
    with pytest.raises(ValueError, match="0 ≤ min ≤ max, got 9..8"):
        GpuRequest("H100", 9, 8)
