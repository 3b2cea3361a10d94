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
# The tiny model can finish all 500 tokens before the client reads its first burst (it reads
# in bursts): such a stream proves nothing about drain, so a new one starts, this many times.
ATTEMPTS = 6
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


def _stream(command: list[str]) -> tuple[subprocess.Popen, list[str]]:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), []


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
    # preStop as the kubelet runs it (in the container). With no endpoint delay it only logs, yet
    # starting a shell in the pod takes seconds on a busy box, longer than the whole stream: so it
    # runs first, and SIGTERM follows the stream's first token.
    subprocess.run(["nsenter", "--target", str(pid1), "--mount", "--net", "--uts", "--pid", "--", *pre_stop],
                   check=True, timeout=30, env=head.env)
    command = ["ip", "netns", "exec", cluster.client_ns, sys.executable, "-c", _STREAM,
               f"http://{head.ip}:8000/v1/completions", json.dumps(body)]
    client, events, reader = None, [], None
    try:
        for _ in range(ATTEMPTS):
            client, events = _stream(command)
            reader = threading.Thread(
                target=lambda c=client, e=events: e.extend(line.strip() for line in iter(c.stdout.readline, "")),
                daemon=True)
            reader.start()
            deadline = time.monotonic() + 120
            while not events and time.monotonic() < deadline:
                time.sleep(0.01)
            assert events, f"the stream never started: {client.stderr.read() if client.poll() is not None else ''}"
            if "[DONE]" not in events:
                break  # in flight: SIGTERM now
            client.wait(timeout=30)
        assert "[DONE]" not in events, f"every one of {ATTEMPTS} streams finished before SIGTERM could land"
        at_sigterm = len(events)
        terminated = time.monotonic()
        head.terminate()
        # With --shutdown-timeout 0 the stream is aborted and this client never sees [DONE].
        client.wait(timeout=DRAIN["timeoutSeconds"] + 30)
        reader.join(timeout=10)
        _, rc = head.wait_exit(exits, timeout=DRAIN["timeoutSeconds"] + 60)
    finally:
        if client is not None and client.poll() is None:
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
