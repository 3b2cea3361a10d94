#!/usr/bin/env python3
"""Stand-in for `vllm serve`, used by the Ray group tests through the
documented hook VLLM_FLEET_VLLM_BIN (head.sh runs `$VLLM_BIN serve <args>`).

Standard library only. Serves on --host (default 0.0.0.0) / --port (default 8000):
  GET /health     -> 200, empty body (like vLLM)
  GET /v1/models  -> {"object": "list", "data": [{"id": <served name>, ...}]}
  POST /v1/completions with "stream": true -> one SSE event per token
                  ({"max_tokens": N}, FAKE_VLLM_TOKEN_SECONDS apart), then `data: [DONE]`
The served name is --served-model-name (first value), else the model path.
On start it prints one line to stderr, `fake-vllm: serving ... argv=<json>`,
so tests can check ordering and that every argument arrived intact.
SIGTERM/SIGINT: as vLLM's --shutdown-timeout (default 0) says: 0 aborts the
in-flight streams (closed without [DONE]) and exits 0; N > 0 answers new
requests 503, lets in-flight ones finish for up to N s, then exits 0.

Environment (the test harness sets these; the product never does):
  FAKE_VLLM_LOAD_SECONDS   wait this long before listening, like vLLM loading
                           a model (its API port opens only when loaded).
  FAKE_VLLM_TOKEN_SECONDS  seconds between streamed tokens (default 0.1).
  FAKE_VLLM_EXIT_ON_RAY_MEMBER_LOSS=1
                           behave like vLLM 0.32 with the Ray executor: once
                           serving, watch the raylet of every other Ray node
                           of the local cluster (TCP, every 0.5 s); when one
                           goes away, log "RayWorkerProc ... died
                           unexpectedly" and exit with status 0.
"""

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse(argv):
    if not argv or argv[0] != "serve":
        sys.exit("usage: fake_vllm.py serve MODEL [--served-model-name NAME] [--port P] [--host H] ...")
    p = argparse.ArgumentParser(prog="fake_vllm.py serve", add_help=False)
    p.add_argument("model")
    p.add_argument("--served-model-name", nargs="+", default=None)
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--shutdown-timeout", type=int, default=0)
    args, _unknown = p.parse_known_args(argv[1:])
    return args


RAY_CURRENT_CLUSTER = "/tmp/ray/ray_current_cluster"  # written by `ray start --head`


def ray_peer_raylets() -> list[tuple[str, str, int]]:
    """(node id, raylet ip, raylet port) of every live non-head node, from the local GCS."""
    from ray._raylet import GcsClient
    from ray.core.generated import gcs_pb2

    with open(RAY_CURRENT_CLUSTER) as f:
        address = f.read().strip()
    infos = GcsClient(address=address).get_all_node_info(timeout=5)
    return [
        (node_id.hex(), n.node_manager_address, n.node_manager_port)
        for node_id, n in infos.items()
        if n.state == gcs_pb2.GcsNodeInfo.ALIVE and not n.is_head_node
    ]


def exit_on_ray_member_loss(stop_server) -> None:
    """vLLM 0.32's reaction to a dead Ray worker: log it, exit 0 within about a second."""
    peers = ray_peer_raylets()
    print(f"fake-vllm: watching {len(peers)} Ray worker node(s)", file=sys.stderr, flush=True)
    while True:
        time.sleep(0.5)
        for rank, (node_id, ip, port) in enumerate(peers, start=1):
            try:
                socket.create_connection((ip, port), timeout=1).close()
            except OSError as e:
                print(f"fake-vllm: RayWorkerProc rank=[{rank}] died unexpectedly (node {node_id} at {ip}: {e}); "
                      "exiting with status 0", file=sys.stderr, flush=True)
                stop_server()  # main() then returns 0
                return


class Drain:
    """In-flight requests, and whether the server is draining (new ones 503) or aborting (streams cut)."""

    def __init__(self):
        self.lock = threading.Condition()
        self.in_flight = 0
        self.draining = False
        self.aborting = False

    def enter(self) -> bool:
        with self.lock:
            if self.draining:
                return False
            self.in_flight += 1
            return True

    def leave(self):
        with self.lock:
            self.in_flight -= 1
            self.lock.notify_all()

    def wait_idle(self, timeout: float) -> int:
        with self.lock:
            self.lock.wait_for(lambda: self.in_flight == 0, timeout=timeout)
            return self.in_flight


def main(argv):
    args = parse(argv)
    drain = Drain()
    token_seconds = float(os.environ.get("FAKE_VLLM_TOKEN_SECONDS", "0.1"))
    name = args.served_model_name[0] if args.served_model_name else args.model
    models = json.dumps(
        {
            "object": "list",
            "data": [{"id": name, "object": "model", "owned_by": "vllm", "root": args.model}],
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def _send(self, code, body=b"", ctype="application/json"):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except ConnectionError:  # client gave up (e.g. a probe timed out)
                pass

        def do_GET(self):  # noqa: N802 (http.server naming)
            path = self.path.split("?", 1)[0]
            if path == "/health":
                self._send(200)
            elif path == "/v1/models":
                self._send(200, models)
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            if self.path.split("?", 1)[0] != "/v1/completions":
                return self._send(404, b'{"error": "not found"}')
            if not drain.enter():
                return self._send(503, b'{"error": "server shutting down"}')
            try:
                self._stream(int(body.get("max_tokens", 16)))
            finally:
                drain.leave()

        def _stream(self, tokens):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                for index in range(tokens):
                    if drain.aborting:
                        return  # vLLM with --shutdown-timeout 0: the stream ends without [DONE]
                    event = {"object": "text_completion", "model": name, "choices": [{"index": 0, "text": f" t{index}"}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(token_seconds)
                self.wfile.write(b"data: [DONE]\n\n")
            except ConnectionError:
                pass

        def log_message(self, fmt, *a):  # keep the pod log readable
            pass

    time.sleep(float(os.environ.get("FAKE_VLLM_LOAD_SECONDS", "0")))
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True

    def drain_then_stop():
        left = drain.wait_idle(args.shutdown_timeout) if args.shutdown_timeout > 0 else drain.in_flight
        if left:
            drain.aborting = True
            print(f"fake-vllm: aborting {left} in-flight request(s)", file=sys.stderr, flush=True)
            time.sleep(2 * token_seconds)  # the streams notice and end
        server.shutdown()

    def stop(signum, _frame):
        print(f"fake-vllm: signal {signum}, shutting down (shutdown timeout {args.shutdown_timeout} s, "
              f"{drain.in_flight} in flight)", file=sys.stderr, flush=True)
        with drain.lock:
            drain.draining = True
        threading.Thread(target=drain_then_stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"fake-vllm: serving {name!r} on {args.host}:{args.port} at {time.time():.3f} argv={json.dumps(argv)}",
        file=sys.stderr,
        flush=True,
    )
    if os.environ.get("FAKE_VLLM_EXIT_ON_RAY_MEMBER_LOSS") == "1":
        threading.Thread(target=exit_on_ray_member_loss, args=(server.shutdown,), daemon=True).start()
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
