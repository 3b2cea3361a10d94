"""Single pod (TP x PP fits one pod): the rendered single.sh runs real `vllm serve` on the tiny model."""

from __future__ import annotations

import re

import pytest

from .serving import check_api, ready_cluster, stack

# --enforce-eager: no torch.compile, about 35 s faster to start (one pod has no
# pipeline stages, where eager mode fails on CPU).
STACK = stack(1, 1, {"type": "ray"}, **{"enforce-eager": True})


@pytest.fixture(scope="module")
def cluster(weights, tmp_path_factory):
    with ready_cluster(STACK, weights, tmp_path_factory, "single", api_key=False) as the_cluster:
        assert the_cluster.workers == [], "a 1-GPU model must plan a single pod"
        yield the_cluster


def test_single_pod_serves_completions_and_chat_without_a_key(cluster):
    # The script logs the argv shell-quoted, one word per argument.
    assert re.search(r"starting: vllm serve '?/models/org/tiny'? ", cluster.head.log_text())
    check_api(cluster, api_key=False)


def test_single_pod_probes_pass_while_serving(cluster):
    for kind in ("startup", "liveness", "readiness"):
        ok, why = cluster.head.probe(kind)
        assert ok, f"{kind}: {why}"
