"""vLLM's native multi-node launcher, TP=1 x PP=2 across two pods (network namespaces):
the rendered head.sh (node rank 0, serves the API) and worker.sh (--headless, rank 1)."""

from __future__ import annotations

import pytest

from .serving import check_api, ready_cluster, stack

# No --enforce-eager: with pipeline stages vLLM's CPU eager mode fails the first
# request (`assert self.intermediate_tensors is not None`).
STACK = stack(1, 2, {"type": "native"})


@pytest.fixture(scope="module")
def cluster(weights, tmp_path_factory):
    with ready_cluster(STACK, weights, tmp_path_factory, "native", api_key=True) as the_cluster:
        assert len(the_cluster.workers) == 1, "TP1 x PP2 on 1-GPU nodes must plan a head and one worker"
        yield the_cluster


def test_native_group_serves_completions_and_chat_with_the_key(cluster):
    check_api(cluster, api_key=True)


def test_native_ranks_come_from_the_rendered_scripts(cluster):
    head_log, worker_log = cluster.head.log_text(), cluster.workers[0].log_text()
    master = f"master {cluster.head.fqdn}:"
    assert "node rank 0/2" in head_log and master in head_log, head_log[-2000:]
    assert "node rank 1/2" in worker_log and master in worker_log, worker_log[-2000:]
