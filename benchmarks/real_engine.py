#!/usr/bin/env python3
"""Measure the Ray group's formation and fault handling with the real engine.

Runs the scenarios of tests/real_engine/test_ray_pipeline.py (same harness: one
network + PID + mount namespace per pod, the rendered head.sh / worker.sh /
probe.sh from a rendered stack, vLLM's CPU build serving the tiny model, PP=2
over Ray) on a fresh group per round, and prints min/median/max of:

  last member joins -> group Ready          worker container start -> every pod Ready
  worker death -> head unready (detect)     the head's readiness fails
  worker death -> head exit
  head exit -> group Ready again (re-form)  restarted head + worker Ready, model loaded
  head death -> worker unready / exit / group Ready again

The stand-in figures (fake_vllm.py, no model load) come from benchmarks/ray_faults.py.

Usage (root, with .venv-vllm: `make vllm-env`):
  .venv-vllm/bin/python benchmarks/real_engine.py              # 3 rounds, poll 2 s, grace 30 s
  .venv-vllm/bin/python benchmarks/real_engine.py --small      # CI: 1 round
  .venv-vllm/bin/python benchmarks/real_engine.py --rounds 5 --poll 5 --grace 60 --logs /tmp/re-logs
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fault_rounds import load_note, run_rounds, summary_lines  # noqa: E402
from tests.integration.test_ray_group import netns_unusable  # noqa: E402
from tests.real_engine import test_ray_pipeline as scenarios  # noqa: E402  (the test module doubles as the harness)
from tests.real_engine import tiny_model  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="fresh group per round (default 3)")
    ap.add_argument("--small", action="store_true", help="one round (CI)")
    ap.add_argument("--poll", type=int, default=scenarios.POLL_SECONDS, help="pollIntervalSeconds")
    ap.add_argument("--grace", type=int, default=scenarios.GRACE_SECONDS, help="watchdogGraceSeconds")
    ap.add_argument("--logs", type=Path, help="copy the pod logs of each round here")
    args = ap.parse_args()
    rounds = 1 if args.small else args.rounds
    if rounds < 1:
        ap.error("--rounds must be at least 1")

    reason = netns_unusable()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    print(f"settings: vLLM CPU build, tiny Llama, PP=2 over Ray in 2 pods; poll {args.poll} s, grace {args.grace} s; "
          f"{rounds} round(s)", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vf-bench-") as scratch:
        weights = Path(scratch) / "weights"
        tiny_model.build(weights / "org" / "tiny")
        results, missed = run_rounds(
            rounds,
            lambda r: scenarios.open_ray_cluster(
                weights, Path(scratch) / f"round{r}", args.logs / f"round{r}" if args.logs else None, args.poll, args.grace
            ),
            scenarios.SCENARIOS,
            lambda cluster: cluster.dump_logs(),
        )
    print(f"\nreal engine, {rounds} round(s) in {time.monotonic() - started:.0f} s "
          f"(poll {args.poll} s, grace {args.grace} s; {load_note()}):")
    print("\n".join(summary_lines(results)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
