"""The Ray launcher with real vLLM: PP=2 across two pods (network namespaces), the
rendered Ray head.sh / worker.sh / probe.sh, and the group's fault handling.

vLLM's CPU platform refuses the Ray executor; the Ray pods get the test-only
shim in shim/ (see its docstring). The rendered scripts are unchanged: `ray
start --num-gpus=1` per pod, as on 1-GPU nodes.

The scenarios are shared with benchmarks/real_engine.py; each asserts its bounds
and returns the seconds it measured.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.test_ray_group import wait_until

from .kubelet import Cluster
from .serving import READY_TIMEOUT, check_api, open_cluster, stack

POLL_SECONDS = 2
# Under 2-core load a Ray state query can take over 10 s; a grace of a few seconds
# kills healthy groups (vllm-cpu-testing.md), 30 s did not.
GRACE_SECONDS = 30


def ray_stack(poll: int = POLL_SECONDS, grace: int = GRACE_SECONDS) -> dict:
    # No --enforce-eager: with pipeline stages vLLM's CPU eager mode fails the first request.
    return stack(1, 2, {"type": "ray", "waitTimeoutSeconds": READY_TIMEOUT, "pollIntervalSeconds": poll,
                        "watchdogGraceSeconds": grace})


def open_ray_cluster(weights, workdir, keep_logs_in=None, poll: int = POLL_SECONDS, grace: int = GRACE_SECONDS):
    return open_cluster(ray_stack(poll, grace), weights, workdir, api_key=True, ray_shim=True,
                        keep_logs_in=keep_logs_in)


def settings(cluster: Cluster) -> tuple[int, int]:
    """(poll interval, watchdog grace) as the rendered stack planned them."""
    launcher = cluster.model.launcher
    return launcher["pollIntervalSeconds"], launcher["watchdogGraceSeconds"]


def scenario_group_formation(cluster: Cluster) -> dict:
    """Head first; the worker (the last member) joins; every pod Ready; real requests served."""
    head, [worker] = cluster.head, cluster.workers
    head.start()
    wait_until(lambda: "waiting for group: 1/2 Ray nodes, 1/2 GPUs" in head.log_text(), READY_TIMEOUT,
               "head to report 1/2 Ray nodes, 1/2 GPUs")
    assert not head.ready(), "head ready without its worker"
    ready = cluster.ensure_ready(READY_TIMEOUT)
    log = head.log_text()
    assert "group complete" in log and log.index("group complete") < log.index("starting: vllm serve"), log[-3000:]
    assert "start #1 of this pod's head container" in log
    check_api(cluster, api_key=True)
    return {"last member joins -> group Ready": ready}


def scenario_worker_death(cluster: Cluster) -> dict:
    """A worker container is killed mid-serving; Kubernetes restarts it at once."""
    head, [worker] = cluster.head, cluster.workers
    poll, grace = settings(cluster)
    cluster.ensure_ready(READY_TIMEOUT)
    check_api(cluster, api_key=True)
    n_head_exits = len(head.exits)
    t0 = time.monotonic()
    worker.kill()
    unready, _ = wait_until(lambda: not head.ready(), 60, "head to become unready after the worker died", 0.2)
    bound = poll + 15  # one poll, one Ray group query (seconds under 2-core load), one probe
    assert unready <= bound, f"head unready only {unready:.1f} s after the worker died (bound {bound} s)"
    t_exit, rc = head.wait_exit(n_head_exits, grace + 60)
    # vLLM itself exits (status 0) within about a second of losing a Ray worker;
    # the head must still exit non-zero, so the restart is visible and counted:
    # 11 (group lost a member) or 12 (vllm serve exited).
    assert rc in (11, 12), f"head must exit 11 or 12 after losing its worker, got {rc}:\n{head.log_text()[-3000:]}"
    assert t_exit - t0 <= grace + 2 * poll + 30, f"head exited {t_exit - t0:.1f} s after the worker died"
    cluster.ensure_ready(READY_TIMEOUT)
    t_ready = time.monotonic()
    assert "start #2 of this pod's head container" in head.log_text()
    check_api(cluster, api_key=True)
    return {
        "worker death -> head unready (detect)": unready,
        "worker death -> head exit": t_exit - t0,
        "head exit -> group Ready again (re-form)": t_ready - t_exit,
    }


def scenario_head_death(cluster: Cluster) -> dict:
    """The head container is killed; Kubernetes restarts it at once; the worker rejoins the new head."""
    head, [worker] = cluster.head, cluster.workers
    poll, grace = settings(cluster)
    cluster.ensure_ready(READY_TIMEOUT)
    n_worker_exits = len(worker.exits)
    t0 = time.monotonic()
    head.kill()
    unready, _ = wait_until(lambda: not worker.ready(), 60, "worker to become unready after the head died", 0.2)
    t_exit, rc = worker.wait_exit(n_worker_exits, grace + 90)
    # 11: the worker's head monitor gave up (or saw a new head); 13: Ray's raylet gave up first.
    assert rc in (11, 13), f"worker must exit 11 or 13 after losing the head, got {rc}:\n{worker.log_text()[-3000:]}"
    cluster.ensure_ready(READY_TIMEOUT)
    t_ready = time.monotonic()
    check_api(cluster, api_key=True)
    return {
        "head death -> worker unready": unready,
        "head death -> worker exit": t_exit - t0,
        "head death -> group Ready again (re-form)": t_ready - t0,
    }


SCENARIOS = (scenario_group_formation, scenario_worker_death, scenario_head_death)

# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def cluster(weights, tmp_path_factory):
    logs = tmp_path_factory.mktemp("ray-logs")
    with open_ray_cluster(weights, tmp_path_factory.mktemp("ray"), keep_logs_in=logs) as the_cluster:
        assert len(the_cluster.workers) == 1, "TP1 x PP2 on 1-GPU nodes must plan a head and one worker"
        yield the_cluster
    print(f"\npod logs kept in {logs}")
    if TIMINGS:
        print("measured: " + ", ".join(f"{k}: {v:.1f} s" for k, v in TIMINGS.items()))


@pytest.fixture
def explain(cluster, request):
    """On failure, show the tail of every pod log."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        print(cluster.dump_logs())


def test_ray_group_forms_and_serves_completions_and_chat_with_the_key(cluster, explain):
    TIMINGS.update(scenario_group_formation(cluster))


def test_worker_killed_mid_serving_head_unready_exits_and_group_reforms(cluster, explain):
    TIMINGS.update(scenario_worker_death(cluster))


def test_head_killed_worker_rejoins_the_new_head(cluster, explain):
    TIMINGS.update(scenario_head_death(cluster))
