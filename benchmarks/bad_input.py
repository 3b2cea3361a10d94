"""Time and memory of the CLI on every bad input of the corpus (tests/bad_inputs/cases.yaml).

Each case runs `vllm-fleet render test` as its own process, one at a time, on a
throwaway project; wall time and peak RSS come from `os.wait4` for that process
alone. The goal per case: under 5 s and 300 MB, exit 2.

    python benchmarks/bad_input.py            # every case
    python benchmarks/bad_input.py --small    # the heaviest inputs and one of each class (CI)

Exits 1 when a case does not exit 2 or exceeds 300 MB; wall time is printed
(and enforced only with --enforce-time, since a shared CI machine's load varies).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_bad_input import CASES, cli_command, cli_env, make_project  # noqa: E402

TIME_BUDGET_S = 5.0
MEMORY_BUDGET_MB = 300.0
# The inputs built to exhaust time or memory, run even in --small mode.
HEAVY = {"billion-laughs", "deep-nesting", "file-too-large", "tensor-hundred-million", "configmap-over-1mib",
         "tp-times-pp-too-large", "gpus-per-node-over-int64"}


def measure(case: dict, root: Path) -> tuple[int, float, float, float]:
    """(exit code, wall seconds, CPU seconds, peak RSS in MB) of the CLI on one case.

    CPU seconds (user + system) barely depend on the machine's load; wall time does.
    """
    project = make_project(case, root / case["id"])
    started = time.perf_counter()
    process = subprocess.Popen(
        cli_command(case, project, project / "out"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=cli_env(),
        cwd=project,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return process.returncode, wall, cpu, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def small_selection() -> list[dict]:
    chosen, classes = [], set()
    for case in CASES:
        if case["id"] in HEAVY or case["class"] not in classes:
            chosen.append(case)
            classes.add(case["class"])
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="heaviest inputs and one case per class")
    parser.add_argument("--enforce-time", action="store_true", help=f"also fail when a case takes over {TIME_BUDGET_S} s")
    args = parser.parse_args()
    cases = small_selection() if args.small else CASES

    failures, walls, cpus, peaks = [], [], [], []
    print(f"{'case':45} {'exit':>4} {'wall s':>7} {'cpu s':>6} {'peak MB':>8}")
    with tempfile.TemporaryDirectory(prefix="bad-input-bench-") as tmp:
        for case in cases:
            code, wall, cpu, peak = measure(case, Path(tmp))
            walls.append(wall)
            cpus.append(cpu)
            peaks.append(peak)
            flags = []
            if code != 2:
                flags.append(f"exit {code}, expected 2")
            if peak > MEMORY_BUDGET_MB:
                flags.append(f"over {MEMORY_BUDGET_MB:.0f} MB")
            if wall > TIME_BUDGET_S:
                flags.append(f"over {TIME_BUDGET_S:.0f} s")
                if not args.enforce_time:
                    flags[-1] += " (not enforced)"
            hard = [f for f in flags if "not enforced" not in f]
            if hard:
                failures.append(f"{case['id']}: {', '.join(hard)}")
            print(f"{case['id']:45} {code:>4} {wall:>7.2f} {cpu:>6.2f} {peak:>8.1f}  {'; '.join(flags)}")
    print(
        f"\n{len(cases)} cases: wall max {max(walls):.2f} s, median {statistics.median(walls):.2f} s; "
        f"CPU max {max(cpus):.2f} s, median {statistics.median(cpus):.2f} s; "
        f"peak RSS max {max(peaks):.1f} MB, median {statistics.median(peaks):.1f} MB "
        f"(budget {TIME_BUDGET_S:.0f} s, {MEMORY_BUDGET_MB:.0f} MB)"
    )
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
