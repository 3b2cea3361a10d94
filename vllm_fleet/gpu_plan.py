"""GPU arithmetic: how TP×PP GPUs split over the pods of one group, never over-reserving."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

from .errors import PlanError


@dataclass(frozen=True)
class GpuPlan:
    tensor: int
    pipeline: int
    head_gpus: int
    worker_gpus: int
    workers: int
    notes: tuple[str, ...] = ()

    @property
    def total_gpus(self) -> int:
        return self.tensor * self.pipeline

    @property
    def pods(self) -> int:
        return 1 + self.workers

    @property
    def multi_node(self) -> bool:
        return self.workers > 0

    def pod_gpus(self) -> list[int]:
        """GPUs of each pod in rank order: the head first, then the workers."""
        return [self.head_gpus] + [self.worker_gpus] * self.workers


def _divisors_up_to(number: int, limit: int) -> list[int]:
    return [d for d in range(1, min(number, limit) + 1) if number % d == 0]


def _split_tp_groups(tensor: int, pod_gpus: list[int]) -> int:
    """How many tensor-parallel groups straddle a pod boundary (vLLM ranks fill pods in order)."""
    boundaries, total = set(), 0
    for gpus in pod_gpus[:-1]:
        total += gpus
        boundaries.add(total)
    groups = sum(pod_gpus) // tensor
    return sum(
        1 for g in range(groups) if any(g * tensor < b < (g + 1) * tensor for b in boundaries)
    )


def plan_gpus(
    tensor: int,
    pipeline: int,
    gpus_per_node: int,
    gpus_per_pod: Optional[int] = None,
    uniform_pods: bool = False,
) -> GpuPlan:
    """Splits TP×PP GPUs over the fewest pods that fit, without ever over-reserving.

    The head takes the remainder and the workers are uniform (one StatefulSet),
    so TP=4×PP=3 on 8-GPU nodes is a 4-GPU head and one 8-GPU worker: each
    4-rank TP group stays inside one pod. `uniform_pods` (vLLM's native
    launcher) requires the same count everywhere.
    """
    total = tensor * pipeline
    if gpus_per_pod is not None:
        if gpus_per_pod > gpus_per_node:
            raise PlanError(
                ("gpusPerPod",),
                f"{gpus_per_pod} GPUs per pod exceeds nodePool.gpusPerNode ({gpus_per_node}); "
                f"a pod can't span nodes, so use at most {gpus_per_node}",
            )
        if gpus_per_pod > total:
            raise PlanError(
                ("gpusPerPod",),
                f"{gpus_per_pod} GPUs per pod exceeds TP×PP = {total}; the pod would reserve GPUs "
                f"no rank uses, so use at most {total}",
            )
        if uniform_pods and total % gpus_per_pod:
            options = ", ".join(map(str, _divisors_up_to(total, gpus_per_node)))
            raise PlanError(
                ("gpusPerPod",),
                f"launcher 'native' needs the same GPU count on every pod, but TP×PP = {total} "
                f"doesn't split into pods of {gpus_per_pod}; use one of: {options}",
            )
        per_pod = gpus_per_pod
    elif total <= gpus_per_node:
        per_pod = total
    elif uniform_pods:
        per_pod = max(_divisors_up_to(total, gpus_per_node))
    else:
        per_pod = gpus_per_node

    pods = math.ceil(total / per_pod)
    head = total - (pods - 1) * per_pod
    plan = GpuPlan(tensor, pipeline, head, per_pod if pods > 1 else 0, pods - 1)

    notes = []
    if plan.multi_node:
        split = _split_tp_groups(tensor, plan.pod_gpus())
        if split and tensor <= max(plan.pod_gpus()):
            notes.append(
                f"{split} TP group(s) of {tensor} straddle pods; a gpusPerPod that is a multiple "
                f"of {tensor} keeps tensor-parallel traffic inside a node"
            )
        elif split:
            notes.append(f"TP={tensor} spans pods: tensor-parallel traffic crosses the network")
    return replace(plan, notes=tuple(notes))
