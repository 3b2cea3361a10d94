"""Helpers for the data-plane tests (sources, caches, networks): small configs, plans, renders.

Kept out of conftest.py so these tests stay independent of the core suite's fixtures.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import pytest
import yaml

from vllm_fleet.config import load_fleet
from vllm_fleet.errors import ConfigError
from vllm_fleet.plan import ModelPlan, plan_fleet
from vllm_fleet.plugins import Registry
from vllm_fleet.render import Render, load_project, render_stack
from vllm_fleet.stack_config import SecretValue

PROJECT = Path(__file__).resolve().parent.parent
TOKEN = "hf_TESTTOKEN_must_never_be_rendered_4242"

WHEREABOUTS = {"type": "whereabouts", "range": "10.56.0.0/16"}
SRIOV = {"type": "sriov", "resourceName": "openshift.io/mlx_rdma", "ipam": WHEREABOUTS}
ALLUXIO = {"type": "alluxio", "tiers": [{"medium": "MEM", "quota": "8Gi"}]}


def model(**overrides: Any) -> dict[str, Any]:
    """A two-pod group (TP=16 on 8-GPU nodes) on a new claim: the case networks and caches matter for."""
    base = {
        "name": "llm",
        "model": "org/llm",
        "parallelism": {"tensor": 16},
        "storage": {"type": "new-pvc", "size": "100Gi", "accessMode": "ReadWriteMany"},
    }
    base.update(overrides)
    return base


def config(*models: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """Raw `vllm-fleet:*` config (keys without the namespace), as read_stack_config returns it."""
    raw = {
        "namespace": "llm-test",
        "nodePool": {"gpusPerNode": 8},
        "models": list(models) or [model()],
    }
    raw.update(overrides)
    return copy.deepcopy(raw)


def plans(raw: dict[str, Any], registry: Optional[Registry] = None) -> list[ModelPlan]:
    return plan_fleet(load_fleet(raw, registry or Registry.discover()))


def plan(raw: dict[str, Any]) -> ModelPlan:
    return plans(raw)[0]


def issues(raw: dict[str, Any], registry: Optional[Registry] = None) -> list[str]:
    """Every problem, as '<key path>: <message>' lines."""
    with pytest.raises(ConfigError) as caught:
        plans(raw, registry)
    return [str(issue) for issue in caught.value.issues]


def one_issue(raw: dict[str, Any], path: str) -> str:
    """The message of the one issue at `path` (fails, listing them, if there isn't exactly one)."""
    found = issues(raw)
    at = [line.split(": ", 1)[1] for line in found if line.split(": ", 1)[0] == path]
    assert len(at) == 1, f"expected one issue at {path}, got {found}"
    return at[0]


def secret(value: str = TOKEN) -> SecretValue:
    return SecretValue(value)


def write_project(directory: Path, stacks: dict[str, dict[str, Any]]) -> Path:
    """A copy of this project's program with the given stacks ({stack: raw config})."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(PROJECT / name, directory / name)
    (directory / "stacks").mkdir(exist_ok=True)
    for stack, raw in stacks.items():
        document = {"config": {f"vllm-fleet:{key}": value for key, value in raw.items()}}
        (directory / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return directory


def render(directory: Path, raw: dict[str, Any], stack: str = "test") -> Render:
    return render_stack(load_project(write_project(directory, {stack: raw})), stack)


def of_kind(render_: Render, kind: str) -> list[dict[str, Any]]:
    return [obj for obj in render_.objects() if obj["kind"] == kind]


def named(render_: Render, kind: str, name: str) -> dict[str, Any]:
    matches = [obj for obj in of_kind(render_, kind) if obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name} not rendered once: {[o['metadata']['name'] for o in of_kind(render_, kind)]}"
    return matches[0]


def pod_spec(statefulset: dict[str, Any]) -> dict[str, Any]:
    return statefulset["spec"]["template"]["spec"]


def pod_templates(source: Union[Render, Iterable[dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """(`StatefulSet/x` or `LeaderWorkerSet/x leader|worker`, pod template) for every workload pod template.

    One list for the checks on pods, so a model that moves from StatefulSets to
    a LeaderWorkerSet (a one-pod LWS group has only its worker template) stays checked.
    """
    objects = source.objects() if isinstance(source, Render) else source
    found = []
    for obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "StatefulSet":
            found.append((name, obj["spec"]["template"]))
        elif obj["kind"] == "LeaderWorkerSet":
            template = obj["spec"]["leaderWorkerTemplate"]
            found += [(f"{name} {role}", template[f"{role}Template"]) for role in ("leader", "worker") if f"{role}Template" in template]
    return found


def as_pod(template: dict[str, Any]) -> dict[str, Any]:
    """A pod template as a Pod, for kubernetes-validate (which has no schema for a bare template inside a custom resource)."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": template["spec"]}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}
