#!/usr/bin/env python3
"""Regenerates the generated parts of docs/monitoring.md from the monitoring add-on itself.

Why: the alert table's thresholds, the dashboard layout and the sample objects
in the docs must be what the code renders. Blocks sit between
`<!-- generated:NAME -->` and `<!-- /generated:NAME -->`; `--check` (run by
the tests) fails when any block is stale, `--write` rewrites them. Without a
DOC argument the README's copy of the alert table is regenerated too (the
README holds only the blocks it wants).

Usage: python scripts/monitoring_sample.py [--check | --write] [DOC]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Optional

import yaml

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from vllm_fleet.builtin.monitoring import MonitoringAddon, MonitoringSettings, stack_dashboard  # noqa: E402
from vllm_fleet.config import load_fleet  # noqa: E402
from vllm_fleet.plan import ModelPlan, plan_fleet  # noqa: E402
from vllm_fleet.plugins import Registry  # noqa: E402
from vllm_fleet.templates import render  # noqa: E402

DOC = PROJECT / "docs" / "monitoring.md"
README = PROJECT / "README.md"
#: The sample stack: a 16-GPU Ray group whose weights a Job fetches, and a one-pod model.
SAMPLE = {
    "namespace": "llm",
    "nodePool": {"gpusPerNode": 8},
    "models": [
        {"name": "deepseek-v3", "model": "deepseek-ai/DeepSeek-V3", "parallelism": {"tensor": 8, "pipeline": 2},
         "storage": {"type": "huggingface", "size": "1500Gi", "accessMode": "ReadWriteMany", "token": False}},
        {"name": "qwen-7b", "model": "Qwen/Qwen2.5-7B-Instruct", "parallelism": {"tensor": 1},
         "storage": {"type": "new-pvc", "size": "50Gi"}},
    ],
}
_BLOCK = re.compile(r"(<!-- generated:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /generated:(?P=name) -->)", re.S)


def sample_plans() -> list[ModelPlan]:
    return plan_fleet(load_fleet(SAMPLE, Registry.discover()))


def dashboard_layout(dashboard: dict) -> str:
    """Each model row as a small table of its panel titles, laid out as Grafana places them."""
    lines: list[str] = []
    cells: dict[int, list[tuple[int, str]]] = {}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            if cells:
                lines += _grid(cells)
                cells = {}
            lines += ["", f"**{panel['title']}**", ""]
        else:
            cells.setdefault(panel["gridPos"]["y"], []).append((panel["gridPos"]["x"], panel["title"]))
    lines += _grid(cells)
    return "\n".join(lines).strip() + "\n"


def _grid(cells: dict[int, list[tuple[int, str]]]) -> list[str]:
    rows = [[title for _, title in sorted(cells[y])] for y in sorted(cells)]
    width = max(len(row) for row in rows)
    table = [f"| {' | '.join(rows[0])} |", "|" + "---|" * width]
    return table + [f"| {' | '.join(row)} |" for row in rows[1:]]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, as a person would write them."""


_Dumper.add_representer(
    str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)
)


def _yaml(data) -> str:
    return "```yaml\n" + yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=120) + "```\n"


def blocks() -> dict[str, str]:
    plans = sample_plans()
    settings = MonitoringSettings()
    objects = {o.kind: o for o in MonitoringAddon().objects(settings, plans[0])}
    dashboard = stack_dashboard(plans, {p.name: settings for p in plans}, stack="prod")
    rule = objects["PrometheusRule"].body["spec"]["groups"][0]["rules"][0]
    return {
        "alerts": render("monitoring/alerts.md.j2", s=settings),
        "layout": dashboard_layout(json.loads(dashboard.body["data"]["vllm-fleet.json"])),
        "pod-monitor": _yaml({"kind": "PodMonitor", "metadata": {"name": objects["PodMonitor"].name}, **objects["PodMonitor"].body}),
        "rule": _yaml(rule),
        "network-policy": _yaml({"kind": "NetworkPolicy", "metadata": {"name": objects["NetworkPolicy"].name}, **objects["NetworkPolicy"].body}),
    }


def regenerate(text: str, generated: dict[str, str], every_block: bool = True) -> str:
    """The text with its generated blocks rewritten; `every_block`: it must hold all of them."""
    found = {m.group("name") for m in _BLOCK.finditer(text)}
    missing = sorted(set(generated) - found)
    if missing and every_block:
        raise SystemExit(f"error: no <!-- generated:NAME --> block for: {', '.join(missing)}")
    return _BLOCK.sub(lambda m: m.group(1) + generated[m.group("name")] + m.group(4), text)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 when a generated block is stale")
    mode.add_argument("--write", action="store_true", help="rewrite the generated blocks")
    parser.add_argument("doc", type=Path, nargs="?")
    args = parser.parse_args(argv)
    generated = blocks()
    docs = [(args.doc, True)] if args.doc else [(DOC, True), (README, False)]
    stale = []
    for doc, every_block in docs:
        text = doc.read_text(encoding="utf-8")
        updated = regenerate(text, generated, every_block)
        if args.write:
            doc.write_text(updated, encoding="utf-8")
        elif args.check and updated != text:
            stale.append(doc)
        elif not args.check:
            sys.stdout.write(updated)
    for doc in stale:
        print(f"{doc}: generated blocks are stale; run scripts/monitoring_sample.py --write", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
