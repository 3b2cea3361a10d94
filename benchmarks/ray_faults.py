#!/usr/bin/env python3
"""Measure the Ray group's fault handling with a real Ray cluster.

Runs the scenarios of tests/integration/test_ray_group.py (same harness: one
network + PID namespace per pod, the rendered head.sh / worker.sh / probe.sh,
fake_vllm.py behind VLLM_FLEET_VLLM_BIN) and prints the measured seconds:

  group formation          worker start -> group ready; /health's first 200 -> head ready
                           (the stand-in "loads" for 2 s before its port opens)
  worker death             -> head unready, -> head exit, -> group ready again
                           (the stand-in keeps serving: the watchdog's grace path)
  head death               -> worker unready, -> worker exit, new head -> group re-formed
                           (head kept down for a while, and head restarted at once)
  engine exits 0           the stand-in exits 0 when a Ray worker dies, as vLLM 0.32
                           does: -> head unready, -> head exit (12), -> group ready again

Every event is printed with min / median / max over the rounds.

Usage (root, in the venv with ray):
  python benchmarks/ray_faults.py --ci              # CI size: 1 round, test settings (~3 min)
  python benchmarks/ray_faults.py --rounds 5        # test settings: poll 1 s, grace 5 s
  python benchmarks/ray_faults.py --rounds 5 --defaults   # production defaults: poll 5 s, grace 60 s
  python benchmarks/ray_faults.py --rounds 3 --poll 2 --grace 10
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fault_rounds import Results, load_note, run_rounds, summary_lines  # noqa: E402
from tests.integration import test_ray_group as harness  # noqa: E402  (the test module doubles as the harness)

SCENARIOS = (
    harness.scenario_group_formation,
    harness.scenario_worker_death,
    harness.scenario_head_death_held,
    harness.scenario_head_death_immediate_restart,
    harness.scenario_engine_exits_0_on_worker_loss,
)
# The goal of issue 14: readiness follows /health promptly.
HEALTH_TO_READY = "/health 200 -> head ready"
HEALTH_TO_READY_GOAL_S = 2.0


def summarize(results: Results, rounds: int, seconds: float, ctx: dict) -> None:
    """min / median / max of every event so far (printed after each round, so a cut-short run still reports)."""
    print(f"\nmeasured over {rounds} round(s) in {seconds:.0f} s "
          f"(poll {ctx['poll_interval_seconds']} s, grace {ctx['watchdog_grace_seconds']} s; {load_note()}):")
    print("\n".join(summary_lines(results)))
    if HEALTH_TO_READY in results:
        worst = max(results[HEALTH_TO_READY])
        verdict = "met" if worst <= HEALTH_TO_READY_GOAL_S else "MISSED"
        print(f"goal: {HEALTH_TO_READY} <= {HEALTH_TO_READY_GOAL_S:.0f} s in every round: {verdict} (max {worst:.1f} s)",
              flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="fresh group per round (default 3)")
    ap.add_argument("--ci", action="store_true", help="small size for CI: 1 round, test settings")
    ap.add_argument("--defaults", action="store_true", help="poll 5 s, grace 60 s, wait 600 s (production defaults)")
    ap.add_argument("--poll", type=int, help="poll_interval_seconds")
    ap.add_argument("--grace", type=int, help="watchdog_grace_seconds")
    ap.add_argument("--logs", type=Path, help="copy the pod logs of each round here")
    args = ap.parse_args()
    if args.ci:
        args.rounds = 1
        if args.defaults or args.poll is not None or args.grace is not None:
            ap.error("--ci runs the test settings; leave out --defaults, --poll and --grace")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")

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
        "(2 pods: head 1 GPU + worker 1 GPU)",
        flush=True,
    )

    started = time.monotonic()
    _, missed = run_rounds(
        args.rounds,
        lambda r: harness.open_lab(keep_logs_in=args.logs / f"round{r}" if args.logs else None, ctx=ctx),
        SCENARIOS,
        lambda lab: lab.dump_logs(),
        after_round=lambda results, r: summarize(results, r, time.monotonic() - started, ctx),
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
