"""Rounds of fault scenarios on a fresh group each, for the Ray benchmarks (benchmarks/ray_faults.py, real_engine.py).

A scenario that misses one of its bounds (the test suites' asserts) ends its
round: the group is mid-fault, so the next round starts fresh. The run still
reports every figure and returns the misses, so CI fails on a broken bound while
a long run keeps its other rounds.
"""

from __future__ import annotations

import os
import statistics
from contextlib import AbstractContextManager
from typing import Callable, Iterable, Optional

Results = dict[str, list[float]]


def run_rounds(
    rounds: int,
    open_group: Callable[[int], AbstractContextManager],
    scenarios: Iterable[Callable],
    dump_logs: Callable[[object], str],
    after_round: Optional[Callable[[Results, int], None]] = None,
) -> tuple[Results, list[str]]:
    """Runs every scenario on `open_group(round)`; returns the figures by event and the missed bounds."""
    import sys

    results: Results = {}
    missed: list[str] = []
    scenarios = tuple(scenarios)
    for round_number in range(1, rounds + 1):
        with open_group(round_number) as group:
            for scenario in scenarios:
                try:
                    measured = scenario(group)
                except AssertionError as error:
                    print(dump_logs(group), file=sys.stderr)
                    missed.append(f"round {round_number}: {scenario.__name__}: {error}")
                    print(f"round {round_number}: bound missed, round ended: {error}", flush=True)
                    break
                for name, seconds in measured.items():
                    results.setdefault(name, []).append(seconds)
                    print(f"round {round_number}: {name}: {seconds:.1f} s", flush=True)
        if after_round:
            after_round(results, round_number)
    for line in missed:
        print(f"bound missed: {line}")
    return results, missed


def summary_lines(results: Results) -> list[str]:
    """One line per event: how many rounds measured it, and min / median / max seconds."""
    width = max(map(len, results), default=5)
    lines = [f"  {'event':<{width}}  {'n':>3}  {'min':>6}  {'median':>6}  {'max':>6}"]
    for name, values in results.items():
        lines.append(
            f"  {name:<{width}}  {len(values):3d}  {min(values):6.1f}  {statistics.median(values):6.1f}  {max(values):6.1f}"
        )
    return lines


def load_note() -> str:
    return f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
