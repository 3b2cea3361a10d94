"""The GPU plan: requested GPUs equal TP×PP, no pod exceeds a node, fewest pods."""

from __future__ import annotations

import pytest

from components.errors import PlanError
from components.gpu_plan import GpuPlan, plan_gpus

# (tensor, pipeline, gpus_per_node, gpus_per_pod, uniform) -> (head, worker, workers)
CASES = {
    "seed: TP=16 on 2x8-GPU nodes": ((16, 1, 8, None, False), (8, 8, 1)),
    "seed with explicit gpusPerPod": ((16, 1, 8, 8, False), (8, 8, 1)),
    "TP=8 x PP=2 on 8-GPU nodes": ((8, 2, 8, None, False), (8, 8, 1)),
    "TP=2 on one node": ((2, 1, 8, None, False), (2, 0, 0)),
    "PP=2 on 1-GPU nodes": ((1, 2, 1, None, False), (1, 1, 1)),
    "TP=2 x PP=2 on 4-GPU nodes": ((2, 2, 4, None, False), (4, 0, 0)),
    "TP=2 x PP=2 on 2-GPU nodes": ((2, 2, 2, None, False), (2, 2, 1)),
    "asymmetric TP=4 x PP=3 on 8-GPU nodes": ((4, 3, 8, None, False), (4, 8, 1)),
    "asymmetric with gpusPerPod=4": ((4, 3, 8, 4, False), (4, 4, 2)),
    "PP=1 across 4 nodes": ((32, 1, 8, None, False), (8, 8, 3)),
    "native: TP=4 x PP=3 splits evenly": ((4, 3, 8, None, True), (6, 6, 1)),
    "native: TP=8 x PP=2 on 8-GPU nodes": ((8, 2, 8, None, True), (8, 8, 1)),
    "native: gpusPerPod=4 of 12": ((4, 3, 8, 4, True), (4, 4, 2)),
    "native: single pod": ((4, 1, 8, None, True), (4, 0, 0)),
    "single GPU": ((1, 1, 1, None, False), (1, 0, 0)),
    "remainder head: 20 GPUs on 8-GPU nodes": ((20, 1, 8, None, False), (4, 8, 2)),
}


@pytest.mark.parametrize("args,expected", CASES.values(), ids=CASES.keys())
def test_plan_table(args, expected):
    tensor, pipeline, gpus_per_node, gpus_per_pod, uniform = args
    plan = plan_gpus(tensor, pipeline, gpus_per_node, gpus_per_pod, uniform_pods=uniform)
    assert (plan.head_gpus, plan.worker_gpus, plan.workers) == expected


@pytest.mark.parametrize("args", [case[0] for case in CASES.values()], ids=CASES.keys())
def test_invariants(args):
    tensor, pipeline, gpus_per_node, gpus_per_pod, uniform = args
    plan = plan_gpus(tensor, pipeline, gpus_per_node, gpus_per_pod, uniform_pods=uniform)
    pods = plan.pod_gpus()
    assert sum(pods) == tensor * pipeline, "requested GPUs must equal TP×PP exactly"
    assert max(pods) <= gpus_per_node
    assert min(pods) >= 1
    assert len(pods) == plan.pods
    if uniform:
        assert len(set(pods)) == 1
    if gpus_per_pod is None:
        # Fewest pods: one fewer could not hold the GPUs.
        assert (plan.pods - 1) * gpus_per_node < tensor * pipeline


def test_no_workers_when_it_fits_one_pod():
    plan = plan_gpus(4, 2, 8)
    assert not plan.multi_node and plan.pods == 1 and plan.worker_gpus == 0


def test_pod_gpus_puts_head_first():
    assert GpuPlan(4, 3, head_gpus=4, worker_gpus=8, workers=1).pod_gpus() == [4, 8]


def test_notes_when_tp_group_straddles_pods():
    assert plan_gpus(4, 3, 8, uniform_pods=True).notes  # 6 + 6: the second TP group is split
    assert not plan_gpus(4, 3, 8).notes  # 4 + 8 keeps each TP group of 4 in one pod
    assert "crosses the network" in plan_gpus(16, 1, 8).notes[0]


REJECTIONS = {
    "gpusPerPod above gpusPerNode": ((16, 1, 8, 16, False), "exceeds nodePool.gpusPerNode (8)"),
    "gpusPerPod above TP×PP": ((2, 1, 8, 4, False), "exceeds TP×PP = 2"),
    "native with uneven split": ((4, 3, 8, 8, True), "native' needs the same GPU count on every pod"),
}


@pytest.mark.parametrize("args,message", REJECTIONS.values(), ids=REJECTIONS.keys())
def test_rejections(args, message):
    tensor, pipeline, gpus_per_node, gpus_per_pod, uniform = args
    with pytest.raises(PlanError) as raised:
        plan_gpus(tensor, pipeline, gpus_per_node, gpus_per_pod, uniform_pods=uniform)
    assert message in raised.value.message
    assert raised.value.field == ("gpusPerPod",)


def test_native_rejection_lists_valid_choices():
    with pytest.raises(PlanError) as raised:
        plan_gpus(4, 3, 8, 8, uniform_pods=True)
    assert raised.value.message.endswith("use one of: 1, 2, 3, 4, 6")
