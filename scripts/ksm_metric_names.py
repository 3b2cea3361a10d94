#!/usr/bin/env python3
"""Extracts kube-state-metrics' metric names and labels from its docs into a committed data file.

Why: the group-health alerts read kube-state-metrics (a group that serves
nothing exports no vLLM metrics). The tests check every `kube_*` name and label
the rules and panels use against this file, so a typo is a failing test, not
an alert that never fires.

How: kube-state-metrics documents each metric as a row of the tables in
`docs/metrics/**/*-metrics.md`: `| name | type | description | labels | status |`,
labels written as `label`=&lt;value&gt;.

Usage: python scripts/ksm_metric_names.py CHECKOUT --version vX.Y.Z [--out FILE]
  (CHECKOUT: a kube-state-metrics source tree at that tag, e.g. `git archive vX.Y.Z docs/metrics | tar -x`)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Optional

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "templates" / "monitoring" / "kube-state-metrics.json"
_ROW = re.compile(r"^\|\s*(kube_[a-z0-9_]+)\s*\|\s*([A-Za-z]+)\s*\|(.*)$")
_LABEL = re.compile(r"`([a-zA-Z_][a-zA-Z0-9_]*)`\s*=")


def collect(checkout: Path) -> dict[str, dict]:
    metrics: dict[str, dict] = {}
    for doc in sorted((checkout / "docs" / "metrics").rglob("*-metrics.md")):
        for line in doc.read_text(encoding="utf-8").splitlines():
            row = _ROW.match(line)
            if not row:
                continue
            name, kind, rest = row.groups()
            entry = metrics.setdefault(name, {"type": kind.lower(), "labels": [], "documented_in": []})
            entry["labels"] = sorted(set(entry["labels"]) | set(_LABEL.findall(rest)))
            entry["documented_in"] = sorted(set(entry["documented_in"]) | {str(doc.relative_to(checkout))})
    return dict(sorted(metrics.items()))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a kube-state-metrics source tree (needs docs/metrics)")
    parser.add_argument("--version", required=True, help="the tag the tree was taken from, e.g. v2.20.0")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not (args.checkout / "docs" / "metrics").is_dir():
        print(f"error: {args.checkout}: no docs/metrics folder (a kube-state-metrics source tree is needed)", file=sys.stderr)
        return 2
    metrics = collect(args.checkout)
    data = {"kube_state_metrics_version": args.version, "generated_by": "scripts/ksm_metric_names.py", "metrics": metrics}
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"{len(metrics)} metrics of kube-state-metrics {args.version} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
