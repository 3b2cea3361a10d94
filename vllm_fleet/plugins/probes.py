"""Probe timings every launcher shares: sized for loading a large model."""

from __future__ import annotations

import math
from typing import Any

from .types import Probes

PROBE_PERIOD_SECONDS = 10


def make_probes(
    startup: dict[str, Any],
    readiness: dict[str, Any],
    liveness: dict[str, Any],
    startup_budget_seconds: int,
) -> Probes:
    """Probe timings sized for loading a large model.

    The startup probe tolerates the whole budget (group formation + loading
    weights); only after it passes do liveness (hung engine: ~2.5 min) and
    readiness (out of rotation within ~20 s) apply.
    """
    return Probes(
        startup={
            **startup,
            "periodSeconds": PROBE_PERIOD_SECONDS,
            "timeoutSeconds": 5,
            "failureThreshold": math.ceil(startup_budget_seconds / PROBE_PERIOD_SECONDS),
        },
        readiness={**readiness, "periodSeconds": 5, "timeoutSeconds": 5, "failureThreshold": 2},
        liveness={**liveness, "periodSeconds": 30, "timeoutSeconds": 10, "failureThreshold": 5},
    )
