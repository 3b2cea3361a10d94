"""checkov's Kubernetes checks over every rendered stack, against checkov-skips.yaml.

checkov runs from its own environment (its packaging<24 pin can't share one with
pulumi>=3.254): set CHECKOV to its executable or put it on PATH. Any failed
check not listed in checkov-skips.yaml fails the suite; each listed ID must be
a real checkov check with a reason, and a `pending_fix` entry that no longer
fails anywhere must be deleted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from vllm_fleet.render import INDEX_FILE, OUTPUTS_FILE, write_render

from .conftest import PROJECT_DIR, tool

SKIPS_FILE = PROJECT_DIR / "checkov-skips.yaml"
SECTIONS = ("skip", "pending_fix")
INSTALL = "python3 -m venv /tmp/checkov && /tmp/checkov/bin/pip install checkov, then CHECKOV=/tmp/checkov/bin/checkov"


@pytest.fixture(scope="module")
def checkov() -> list[str]:
    # --skip-download: no call to Prisma Cloud for guidelines; the checks are all local.
    return [os.environ.get("CHECKOV") or tool("checkov", INSTALL), "--framework", "kubernetes", "--skip-download"]


@pytest.fixture(scope="module")
def allowed() -> dict[str, dict[str, str]]:
    document = yaml.safe_load(SKIPS_FILE.read_text())
    assert set(document) == set(SECTIONS), f"{SKIPS_FILE.name} has exactly the sections {SECTIONS}"
    return {section: document[section] or {} for section in SECTIONS}


@pytest.fixture(scope="module")
def results(checkov, stack_renders, tmp_path_factory) -> dict:
    """One checkov run over all stacks: the YAML objects only (<root>/<stack>/<namespace>/*.yaml)."""
    root = tmp_path_factory.mktemp("rendered")
    for stack, render in stack_renders.items():
        out = write_render(render, root / stack)
        for index in (INDEX_FILE, OUTPUTS_FILE):
            (out / index).unlink()
    run = subprocess.run([*checkov, "-d", str(root), "--quiet", "--compact", "-o", "json"], capture_output=True, text=True)
    assert run.returncode in (0, 1), run.stderr  # 1 = some check failed
    report = json.loads(run.stdout)
    assert report["check_type"] == "kubernetes" and report["summary"]["parsing_errors"] == 0, report["summary"]
    assert report["summary"]["resource_count"] > 0, "checkov saw no objects"
    return report


def _failures(report: dict) -> dict[str, set[str]]:
    """check ID -> '<stack>: <resource>' it failed on."""
    failed: dict[str, set[str]] = defaultdict(set)
    for check in report["results"]["failed_checks"]:
        stack = Path(check["file_path"].lstrip("/")).parts[0]
        failed[check["check_id"]].add(f"{stack}: {check['resource'].split('.app.kubernetes.io')[0]}")
    return failed


def test_every_listed_check_exists_and_says_why(checkov, allowed):
    listing = subprocess.run([*checkov, "--list"], capture_output=True, text=True, check=True).stdout
    known = set(re.findall(r"\bCKV2?_K8S_\d+\b", listing))
    assert len(known) > 50, "checkov --list printed no Kubernetes checks"
    assert not set(allowed["skip"]) & set(allowed["pending_fix"])
    for section, entries in allowed.items():
        for check_id, reason in entries.items():
            assert check_id in known, f"{section}: {check_id} is not a checkov Kubernetes check (stale?)"
            assert isinstance(reason, str) and reason.strip(), f"{section}: {check_id} needs a justification"


def test_no_failed_check_outside_the_skip_file(results, allowed):
    listed = set(allowed["skip"]) | set(allowed["pending_fix"])
    unexpected = {check: sorted(where) for check, where in _failures(results).items() if check not in listed}
    assert unexpected == {}, f"fix these or justify them in {SKIPS_FILE.name}"


def test_pending_fixes_still_fail(results, allowed):
    fixed = set(allowed["pending_fix"]) - set(_failures(results))
    assert not fixed, f"{sorted(fixed)} pass now: delete them from pending_fix in {SKIPS_FILE.name}"
