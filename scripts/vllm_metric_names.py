#!/usr/bin/env python3
"""Extracts the Prometheus metrics a vLLM release exports, from its wheel, into a committed data file.

Why: alert rules and dashboard panels must name metrics vLLM really exports
(a renamed metric silently turns an alert into one that never fires). The test
suite checks every `vllm:*` name in rules and panels against this file, and the
file's version against the image the project pins.

How: every call in the package source whose keyword `name=` (or first
argument) is a string literal starting with `vllm:` and whose callee names a
Prometheus type (Gauge, Counter, Histogram; vLLM wraps them as `_gauge_cls`,
`_counter_cls`, ...) is one metric. prometheus_client then exposes a counter
as `<name>_total`, a histogram as `<name>_bucket/_sum/_count`; those sample
names are what PromQL sees and what the file lists.

Usage: python scripts/vllm_metric_names.py WHEEL_OR_DIR [--out FILE]
  (WHEEL: `pip download --no-deps vllm==X.Y.Z`; DIR: an unpacked source tree)
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Iterator, Optional

TYPES = ("histogram", "counter", "gauge")
SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "templates" / "monitoring" / "vllm-metrics.json"


def python_sources(source: Path) -> Iterator[tuple[str, str]]:
    """(path, text) of every vllm/*.py file in a wheel or a directory."""
    if source.is_file():
        with zipfile.ZipFile(source) as wheel:
            for name in sorted(wheel.namelist()):
                if name.startswith("vllm/") and name.endswith(".py"):
                    yield name, wheel.read(name).decode("utf-8", "replace")
        return
    for path in sorted(source.rglob("*.py")):
        yield str(path.relative_to(source)), path.read_text(encoding="utf-8", errors="replace")


def package_version(source: Path) -> str:
    """The `Version:` of the wheel's METADATA, or `__version__` of an unpacked vllm/_version.py."""
    if source.is_file():
        with zipfile.ZipFile(source) as wheel:
            metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            text = wheel.read(metadata).decode()
        return re.search(r"^Version: (\S+)$", text, re.M).group(1)
    text = (source / "vllm" / "_version.py").read_text()
    return re.search(r"""__version__\s*=\s*(?:version\s*=\s*)?['"]([^'"]+)['"]""", text).group(1)


def _callee(node: ast.Call) -> str:
    func = node.func
    return (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")).lower()


def _metric_name(node: ast.Call) -> Optional[str]:
    candidates = [k.value for k in node.keywords if k.arg == "name"] + node.args[:1]
    for value in candidates:
        if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value.startswith("vllm:"):
            return value.value
    return None


def _labels(node: ast.Call, lists: dict[str, list[str]]) -> Optional[list[str]]:
    """Label names when the source spells them out (a literal, a local list, or a sum of those)."""

    def resolve(value: ast.AST) -> Optional[list[str]]:
        if isinstance(value, (ast.List, ast.Tuple)):
            items = [e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            return items if len(items) == len(value.elts) else None
        if isinstance(value, ast.Name):
            return lists.get(value.id)
        if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
            left, right = resolve(value.left), resolve(value.right)
            return left + right if left is not None and right is not None else None
        return None

    for keyword in node.keywords:
        if keyword.arg == "labelnames":
            return resolve(keyword.value)
    return []


def metrics_in(path: str, text: str) -> Iterator[tuple[str, str, Optional[list[str]], str]]:
    """(name, type, labels, path) of each metric constructed in one source file."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return
    lists: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = node.value
            if isinstance(value, ast.List) and all(isinstance(e, ast.Constant) for e in value.elts):
                lists[node.targets[0].id] = [e.value for e in value.elts]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _metric_name(node)
        kind = next((t for t in TYPES if t in _callee(node)), None)
        if name and kind:
            yield name, kind, _labels(node, lists), path


def collect(source: Path) -> dict:
    metrics: dict[str, dict] = {}
    for path, text in python_sources(source):
        for name, kind, labels, where in metrics_in(path, text):
            entry = metrics.setdefault(name, {"type": kind, "labels": [], "defined_in": []})
            if entry["type"] != kind:
                raise SystemExit(f"{name}: defined as {entry['type']} and as {kind} ({where})")
            if labels:
                entry["labels"] = sorted(set(entry["labels"]) | set(labels))
            entry["defined_in"] = sorted(set(entry["defined_in"]) | {where})
    base = {re.sub(r"_total$", "", n) if m["type"] == "counter" else n: m for n, m in metrics.items()}
    for name, entry in base.items():
        entry["samples"] = [name + suffix for suffix in SAMPLE_SUFFIXES[entry["type"]]]
    return {
        "vllm_version": package_version(source),
        "generated_by": "scripts/vllm_metric_names.py",
        "metrics": dict(sorted(base.items())),
    }


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a vllm wheel, or a directory holding the vllm package")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not args.source.exists():
        print(f"error: {args.source}: no such wheel or directory", file=sys.stderr)
        return 2
    data = collect(args.source)
    if not data["metrics"]:
        print(f"error: {args.source}: no vllm:* metric definitions found", file=sys.stderr)
        return 2
    args.out.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"{len(data['metrics'])} metrics of vllm {data['vllm_version']} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
