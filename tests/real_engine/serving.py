"""The test stacks of the real-engine suite and the API checks every layout passes."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from .kubelet import API_KEY, SHIM, Cluster, render_model

# A served name with a space and quotes: it must reach vLLM intact through the rendered scripts.
SERVED_NAME = "tiny chat 'v1'"
# Fits the tiny model (512 positions) and keeps vLLM's CPU KV cache small.
MAX_MODEL_LEN = 256
# Seconds a layout may take from the last pod's start to every pod Ready. Measured
# on 2 cores: 25-100 s alone; 5-13 minutes with the machine's load average at 20-35
# (Ray's own 30 s raylet start-up limit then fails starts, which the scripts retry).
READY_TIMEOUT = 1200


def stack(tensor: int, pipeline: int, launcher: dict, **engine_args) -> dict:
    """A test stack: one model on 1-CPU "GPU" nodes, weights in an existing claim (the tiny model)."""
    return {
        "namespace": "real-engine",
        "nodePool": {"gpusPerNode": 1},
        "models": [
            {
                "name": "tiny",
                "model": "org/tiny",
                "servedModelName": SERVED_NAME,
                "parallelism": {"tensor": tensor, "pipeline": pipeline},
                "launcher": launcher,
                "storage": {"type": "existing-pvc", "claimName": "weights"},
                "engineArgs": {"max-model-len": MAX_MODEL_LEN, **engine_args},
                "startupTimeoutSeconds": READY_TIMEOUT,
            }
        ],
    }


@contextlib.contextmanager
def open_cluster(stack_config: dict, weights: Path, workdir: Path, api_key: bool, ray_shim: bool = False,
                 keep_logs_in: Path | None = None):
    """Render the stack and run its pods (not started yet); tear everything down afterwards."""
    model = render_model(stack_config, workdir, api_key)
    node_env = {"PYTHONPATH": str(SHIM)} if ray_shim else {}
    cluster = Cluster(model, weights, node_env)
    try:
        yield cluster
    finally:
        cluster.close(keep_logs_in)


@contextlib.contextmanager
def ready_cluster(stack_config: dict, weights: Path, tmp_path_factory, name: str, api_key: bool):
    """`open_cluster`, started and Ready (its logs printed if it never gets there), for a module fixture."""
    with open_cluster(stack_config, weights, tmp_path_factory.mktemp(name), api_key=api_key,
                      keep_logs_in=tmp_path_factory.mktemp(f"{name}-logs")) as cluster:
        cluster.start()
        try:
            cluster.ensure_ready(READY_TIMEOUT)
        except AssertionError:
            print(cluster.dump_logs())
            raise
        yield cluster


def check_api(cluster: Cluster, api_key: bool) -> None:
    """Real completions and chat completions through the head's API, as a client pod sends them."""
    key = API_KEY if api_key else None
    if api_key:
        for wrong in (None, "not-the-key"):
            status, body = cluster.api("GET", "/v1/models", key=wrong)
            assert status == 401, f"/v1/models with key {wrong!r}: {status} {body[:300]}"
            status, body = cluster.api("POST", "/v1/completions", {"model": SERVED_NAME, "prompt": "Hi"}, key=wrong)
            assert status == 401, f"/v1/completions with key {wrong!r}: {status} {body[:300]}"

    status, body = cluster.api("GET", "/v1/models", key=key)
    assert status == 200, f"/v1/models: {status} {body[:300]}"
    assert [m["id"] for m in json.loads(body)["data"]] == [SERVED_NAME]

    status, body = cluster.api(
        "POST", "/v1/completions",
        {"model": SERVED_NAME, "prompt": "Hello, how are you", "max_tokens": 8, "temperature": 0}, key=key,
    )
    assert status == 200, f"/v1/completions: {status} {body[:500]}"
    answer = json.loads(body)
    assert answer["object"] == "text_completion" and answer["model"] == SERVED_NAME, answer
    [choice] = answer["choices"]
    assert isinstance(choice["text"], str) and choice["finish_reason"] in ("length", "stop"), choice
    assert 1 <= answer["usage"]["completion_tokens"] <= 8 and answer["usage"]["prompt_tokens"] > 0, answer["usage"]

    status, body = cluster.api(
        "POST", "/v1/chat/completions",
        {"model": SERVED_NAME, "messages": [{"role": "user", "content": "What is the capital of France?"}],
         "max_tokens": 8, "temperature": 0},
        key=key,
    )
    assert status == 200, f"/v1/chat/completions: {status} {body[:500]}"
    answer = json.loads(body)
    assert answer["object"] == "chat.completion" and answer["model"] == SERVED_NAME, answer
    [choice] = answer["choices"]
    assert choice["message"]["role"] == "assistant" and isinstance(choice["message"]["content"], str), choice
    assert 1 <= answer["usage"]["completion_tokens"] <= 8, answer["usage"]

    status, body = cluster.api("POST", "/v1/completions", {"model": "not-served", "prompt": "Hi"}, key=key)
    assert status == 404, f"a model name that is not served: {status} {body[:300]}"
