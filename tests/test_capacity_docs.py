"""docs/capacity.md and its SVG are what the capacity modules compute today (scripts/capacity_sample.py)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
SCRIPT = PROJECT / "scripts" / "capacity_sample.py"
sys.path.insert(0, str(PROJECT / "scripts"))

import capacity_sample  # noqa: E402


def test_generated_blocks_and_svg_are_current():
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr


def test_a_stale_block_is_found():
    text = capacity_sample.DOC.read_text(encoding="utf-8")
    stale = text.replace("1,378,160 tokens", "1,000,000 tokens")
    assert stale != text
    assert capacity_sample.regenerate(stale, capacity_sample.blocks()) == text


def test_a_missing_block_is_an_error():
    with pytest.raises(SystemExit, match="no <!-- generated:NAME --> block for: catalog"):
        capacity_sample.regenerate("<!-- generated:gpus -->\n<!-- /generated:gpus -->\n", {"gpus": "x\n", "catalog": "y\n"})


def test_the_docs_svg_shows_every_gpu_of_the_sample_plan():
    root = ET.parse(capacity_sample.SVG).getroot()
    gpus = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "gpu"]
    assert sorted(int(g.get("data-rank")) for g in gpus) == list(range(12))
