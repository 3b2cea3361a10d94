"""vLLM's real metric names and labels (templates/monitoring/vllm-metrics.json), and the check every query passes.

Shared by the monitoring add-on's rules and dashboard and the autoscaling
add-on's ScaledObject queries: a query that names a series vLLM does not export,
or matches a label the series can't carry, silently reads nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

METRICS_FILE = Path(__file__).resolve().parent.parent / "templates" / "monitoring" / "vllm-metrics.json"
VLLM_METRIC = re.compile(r"vllm:[a-zA-Z0-9_:]+")
_SELECTOR = re.compile(r"(vllm:[a-zA-Z0-9_:]+)\{([^}]*)\}")
#: Labels the scrape gives every vLLM series (Prometheus Operator target labels, the monitoring
#: add-on's relabelings) besides vLLM's own; `le` on histogram buckets.
TARGET_AND_SCRAPE_LABELS = {"namespace", "pod", "stack", "model", "group", "role", "job", "endpoint", "container", "le"}


def metrics_file() -> dict:
    return json.loads(METRICS_FILE.read_text())


def exported_samples() -> set[str]:
    """Every sample name vLLM exports (a counter `x` as `x_total`, a histogram as `_bucket`/`_sum`/`_count`)."""
    return {sample for metric in metrics_file()["metrics"].values() for sample in metric["samples"]}


def vllm_metrics_in(queries: Iterable[str]) -> set[str]:
    return {name for query in queries for name in VLLM_METRIC.findall(query)}


def unknown_metrics(queries: Iterable[str]) -> set[str]:
    """vLLM series the queries name that vLLM does not export."""
    return vllm_metrics_in(queries) - exported_samples()


def unknown_labels(queries: Iterable[str]) -> list[str]:
    """`metric: labels` for every label matched on a vLLM series that neither vLLM nor the scrape gives it."""
    by_sample = {sample: m["labels"] for m in metrics_file()["metrics"].values() for sample in m["samples"]}
    problems = []
    for query in queries:
        for name, matchers in _SELECTOR.findall(query):
            labels = {m.split("=")[0].strip().rstrip("!~") for m in matchers.split(",") if m.strip()}
            unknown = labels - set(by_sample.get(name, ())) - TARGET_AND_SCRAPE_LABELS
            if unknown:
                problems.append(f"{name}: {sorted(unknown)}")
    return problems
