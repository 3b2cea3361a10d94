"""Drain with real vLLM (single pod): SIGTERM during a streamed completion, and the completion still finishes.

As the kubelet deletes a pod: the rendered preStop (`drain.sh head`) runs in the
container, then SIGTERM goes to the container's PID 1 (single.sh exec'd
`vllm serve`). The rendered `--shutdown-timeout` lets vLLM finish the stream;
the container then exits 0 well within the pod's grace period.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time

import pytest

from .serving import SERVED_NAME, ready_cluster, stack

# No endpoint delay: SIGTERM must land while the tiny model is still streaming.
DRAIN = {"timeoutSeconds": 120, "endpointDelaySeconds": 0}
# The tiny model's whole context (512 positions): a stream long enough to be in flight at SIGTERM.
TOKENS = 500
STACK = stack(1, 1, {"type": "ray"}, **{"enforce-eager": True, "max-model-len": 512})
STACK["models"][0]["drain"] = DRAIN

_STREAM = """
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=600) as response:
    for line in response:
        if line.startswith(b"data: "):
            print(line[6:].strip().decode(), flush=True)
"""


@pytest.fixture(scope="module")
def cluster(weights, tmp_path_factory):
    with ready_cluster(STACK, weights, tmp_path_factory, "drain", api_key=False) as the_cluster:
        yield the_cluster


def test_sigterm_during_a_streamed_completion_lets_it_finish(cluster):
    head = cluster.head
    assert re.search(rf"--shutdown-timeout\s+'?{DRAIN['timeoutSeconds']}\b", cluster.model.scripts["head.sh"])
    # Looked up before the stream starts: SIGTERM must follow its first token quickly.
    exits, pid1 = len(head.exits), head.container_pid1()
    pre_stop = head.container["lifecycle"]["preStop"]["exec"]["command"]
    head.hold_restarts()
    body = {"model": SERVED_NAME, "prompt": "Hello", "max_tokens": TOKENS, "temperature": 0, "stream": True, "ignore_eos": True}
    client = subprocess.Popen(
        ["ip", "netns", "exec", cluster.client_ns, sys.executable, "-c", _STREAM,
         f"http://{head.ip}:8000/v1/completions", json.dumps(body)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    events: list[str] = []
    reader = threading.Thread(target=lambda: events.extend(line.strip() for line in iter(client.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not events and time.monotonic() < deadline:
            time.sleep(0.05)
        assert events, f"the stream never started: {client.stderr.read() if client.poll() is not None else ''}"
        # preStop as the kubelet runs it (in the container), then SIGTERM.
        subprocess.run(["nsenter", "--target", str(pid1), "--mount", "--net", "--uts", "--pid", "--", *pre_stop],
                       check=True, timeout=30, env=head.env)
        at_sigterm = len(events)
        terminated = time.monotonic()
        head.terminate()
        # With --shutdown-timeout 0 the stream is aborted and this client never sees [DONE].
        client.wait(timeout=DRAIN["timeoutSeconds"] + 30)
        reader.join(timeout=10)
        _, rc = head.wait_exit(exits, timeout=DRAIN["timeoutSeconds"] + 60)
    finally:
        if client.poll() is None:
            client.kill()
    took = time.monotonic() - terminated
    assert events[-1] == "[DONE]", events[-3:]
    last = json.loads(events[-2])
    assert last["choices"][0]["finish_reason"] == "length", last
    assert len(events) > at_sigterm + 1, f"nothing streamed after SIGTERM ({at_sigterm} events before)"
    assert rc == 0, f"vllm serve exited {rc} after draining"
    grace = head.spec["terminationGracePeriodSeconds"]
    assert took < grace, f"the drain took {took:.0f} s, past the pod's grace period {grace} s"
    print(f"drain: {len(events) - at_sigterm - 1} tokens streamed after SIGTERM; container exited {took:.1f} s after it")
