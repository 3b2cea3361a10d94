#!/usr/bin/env python3
"""Measure the Ray group's fault handling with a real Ray cluster.

Runs the scenarios of tests/integration/test_ray_group.py (same harness: one
network + PID namespace per pod, the rendered head.sh / worker.sh / probe.sh,
fake_vllm.py behind VLLM_FLEET_VLLM_BIN) and prints the measured seconds:

  group formation          worker start -> head ready (readiness probe passes)
  worker death             -> head unready, -> head exit, -> group ready again
  head death               -> worker unready, -> worker exit, new head -> group re-formed
                           (head kept down for a while, and head restarted at once)

Usage (root, in the venv with ray):
  python benchmarks/ray_faults.py                 # test settings: poll 1 s, grace 5 s
  python benchmarks/ray_faults.py --defaults      # production defaults: poll 5 s, grace 60 s
  python benchmarks/ray_faults.py --rounds 3 --poll 2 --grace 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration import test_ray_group as harness  # noqa: E402  (the test module doubles as the harness)

SCENARIOS = (
    harness.scenario_group_formation,
    harness.scenario_worker_death,
    harness.scenario_head_death_held,
    harness.scenario_head_death_immediate_restart,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=1, help="fresh group per round (default 1)")
    ap.add_argument("--defaults", action="store_true", help="poll 5 s, grace 60 s, wait 600 s (production defaults)")
    ap.add_argument("--poll", type=int, help="poll_interval_seconds")
    ap.add_argument("--grace", type=int, help="watchdog_grace_seconds")
    ap.add_argument("--logs", type=Path, help="copy the pod logs of each round here")
    args = ap.parse_args()

    reason = harness.netns_unusable()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    overrides = {}
    if args.defaults:
        overrides.update(poll_interval_seconds=5, watchdog_grace_seconds=60, wait_timeout_seconds=600)
    if args.poll is not None:
        overrides["poll_interval_seconds"] = args.poll
    if args.grace is not None:
        overrides["watchdog_grace_seconds"] = args.grace
    ctx = harness.build_context(**overrides)
    print(
        f"settings: poll_interval_seconds={ctx['poll_interval_seconds']} "
        f"watchdog_grace_seconds={ctx['watchdog_grace_seconds']} wait_timeout_seconds={ctx['wait_timeout_seconds']} "
        f"(+ {harness.build_context()['ray_ports']['gcs']} GCS port, 2 pods: head 1 GPU + worker 1 GPU)",
        flush=True,
    )

    results: dict[str, list[float]] = {}
    started = time.monotonic()
    for r in range(1, args.rounds + 1):
        logs = args.logs / f"round{r}" if args.logs else None
        with harness.open_lab(keep_logs_in=logs, ctx=ctx) as lab:
            for scenario in SCENARIOS:
                try:
                    measured = scenario(lab)
                except AssertionError:
                    print(lab.dump_logs(), file=sys.stderr)
                    raise
                for name, seconds in measured.items():
                    results.setdefault(name, []).append(seconds)
                    print(f"round {r}: {name}: {seconds:.1f} s", flush=True)

    print(f"\nmeasured over {args.rounds} round(s) in {time.monotonic() - started:.0f} s "
          f"(poll {ctx['poll_interval_seconds']} s, grace {ctx['watchdog_grace_seconds']} s):")
    width = max(map(len, results))
    for name, values in results.items():
        stats = f"median {statistics.median(values):5.1f} s"
        if len(values) > 1:
            stats += f"   min {min(values):5.1f} s   max {max(values):5.1f} s"
        print(f"  {name:<{width}}  {stats}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
