"""The plan of one model in a few numbers and words: the stack output, the CLI table and the PR diff read it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from pydantic.alias_generators import to_camel


_TUPLES = ("notes", "weights_claims")


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

    @property
    def gpu_range(self) -> tuple[int, int]:
        """GPUs at the fewest and the most groups."""
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
