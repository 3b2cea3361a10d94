"""Probe timings every launcher shares: sized for loading a large model."""

from __future__ import annotations

import math
from typing import Any

from .types import Probes

#: Startup and readiness run every second: the kubelet only starts readiness once the
#: startup probe passes, so Ready lands at most one period of each after the engine's
#: first healthy `/health` (the scripts see it within a second too). An exec of
#: probe.sh or a GET of /health each second per pod is negligible next to serving.
STARTUP_PERIOD_SECONDS = 1
READINESS_PERIOD_SECONDS = 1
#: Three misses in a row (about 3 s) take a pod out of rotation: quick, yet one slow
#: answer under load does not flap it.
READINESS_FAILURE_THRESHOLD = 3


def make_probes(
    startup: dict[str, Any],
    readiness: dict[str, Any],
    liveness: dict[str, Any],
    startup_budget_seconds: int,
) -> Probes:
    """Probe timings sized for loading a large model.

    The startup probe tolerates the whole budget (group formation + loading
    weights); only after it passes do liveness (hung engine: ~2.5 min) and
    readiness (out of rotation within ~3 s) apply.
    """
    return Probes(
        startup={
            **startup,
            "periodSeconds": STARTUP_PERIOD_SECONDS,
            "timeoutSeconds": 5,
            "failureThreshold": math.ceil(startup_budget_seconds / STARTUP_PERIOD_SECONDS),
        },
        readiness={
            **readiness,
            "periodSeconds": READINESS_PERIOD_SECONDS,
            "timeoutSeconds": 5,
            "failureThreshold": READINESS_FAILURE_THRESHOLD,
        },
        liveness={**liveness, "periodSeconds": 30, "timeoutSeconds": 10, "failureThreshold": 5},
    )
