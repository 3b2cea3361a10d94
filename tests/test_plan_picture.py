"""The plan as a picture: the SVG is XML with every GPU once, the Mermaid block parses, the memory table."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from vllm_fleet.plan_picture import MemoryRow, PlanPictureInput, memory_table, mermaid_text, plan_mermaid, plan_svg

MERMAID_DIR = Path(__file__).resolve().parent / "mermaid"
SVG = "{http://www.w3.org/2000/svg}"
GIB = 2**30
PLANS = {
    "tp16-two-pods": PlanPictureInput("llama-405b", 16, 1, (8, 8), 1, 50.7 * GIB, 14.2 * GIB, 123_456),
    "tp4-pp3-asymmetric": PlanPictureInput("qwen-72b", 4, 3, (4, 8), 2, 12.0 * GIB, 50.1 * GIB),
    "single-gpu-hostile-name": PlanPictureInput('a<b>&"c\'|d', 1, 1, (1,), 3, 1.0 * GIB, 2.0 * GIB),
}


def _gpus(svg: str) -> list[dict]:
    root = ET.fromstring(svg)
    return [g.attrib for g in root.iter(f"{SVG}g") if g.get("class") == "gpu"]


@pytest.mark.parametrize("plan", PLANS.values(), ids=PLANS.keys())
def test_svg_is_xml_and_lists_every_gpu_once_with_its_ranks(plan):
    gpus = _gpus(plan_svg(plan))
    keys = [(g["data-replica"], g["data-rank"]) for g in gpus]
    assert len(keys) == len(set(keys)) == plan.replicas * plan.tensor * plan.pipeline
    for gpu in gpus:
        rank = int(gpu["data-rank"])
        assert (int(gpu["data-tp"]), int(gpu["data-pp"])) == (rank % plan.tensor, rank // plan.tensor)


def test_ranks_fill_pods_in_order_head_first():
    gpus = _gpus(plan_svg(PLANS["tp4-pp3-asymmetric"]))
    replica0 = [(int(g["data-pod"]), int(g["data-gpu"]), int(g["data-rank"]), int(g["data-pp"]))
                for g in gpus if g["data-replica"] == "0"]
    assert replica0[:4] == [(0, i, i, 0) for i in range(4)]
    assert replica0[4:] == [(1, i, 4 + i, 1 + i // 4) for i in range(8)]


def test_svg_escapes_the_model_name():
    svg = plan_svg(PLANS["single-gpu-hostile-name"])
    assert ET.fromstring(svg).get("data-model") == 'a<b>&"c\'|d'


def test_pods_do_not_overlap_and_replicas_sit_side_by_side():
    root = ET.fromstring(plan_svg(PLANS["tp4-pp3-asymmetric"]))
    pods = [(g.get("data-replica"), g.find(f"{SVG}rect").attrib) for g in root.iter(f"{SVG}g") if g.get("class") == "pod"]
    boxes = [(r, float(a["x"]), float(a["y"]), float(a["width"]), float(a["height"])) for r, a in pods]
    for i, (_, x1, y1, w1, h1) in enumerate(boxes):
        for _, x2, y2, w2, h2 in boxes[i + 1:]:
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
    assert min(x for r, x, *_ in boxes if r == "1") > max(x + w for r, x, _, w, _ in boxes if r == "0")


def test_a_plan_whose_pods_do_not_hold_tp_x_pp_is_refused():
    with pytest.raises(ValueError, match=r"pods of \[4, 4\] GPUs don't hold TP×PP = 4×3 = 12 GPUs"):
        PlanPictureInput("m", 4, 3, (4, 4))


def _mermaid_parse(texts: list[str], tmp_path: Path) -> list[str]:
    """One line per text from Mermaid's parser: 'ok <type>' or 'error: …' (one node run: start-up is the slow part)."""
    node = shutil.which("node")
    assert node, "node is needed for Mermaid's parser: apt-get install nodejs"
    assert (MERMAID_DIR / "node_modules" / "mermaid").is_dir(), "run: npm ci --prefix tests/mermaid"
    paths = []
    for index, text in enumerate(texts):
        paths.append(tmp_path / f"{index}.mmd")
        paths[-1].write_text(text)
    result = subprocess.run([node, str(MERMAID_DIR / "parse.mjs"), *map(str, paths)], capture_output=True,
                            text=True, timeout=120, check=False)
    lines = result.stdout.splitlines()
    assert len(lines) == len(texts), result.stderr
    assert result.returncode == (0 if all(line.startswith("ok ") for line in lines) else 1)
    return lines


def _mermaid_body(block: str) -> str:
    lines = block.strip().splitlines()
    assert lines[0] == "```mermaid" and lines[-1] == "```"
    return "\n".join(lines[1:-1]) + "\n"


def test_mermaid_blocks_parse_with_mermaids_own_parser(tmp_path):
    broken = _mermaid_body(plan_mermaid(PLANS["tp16-two-pods"])).replace("end\n", "", 1)
    raw_quote = 'flowchart LR\n  a["x"y"]\n'
    good = [_mermaid_body(plan_mermaid(plan)) for plan in PLANS.values()]
    results = _mermaid_parse([*good, broken, raw_quote], tmp_path)
    assert results[:len(good)] == ["ok flowchart-v2"] * len(good)
    assert [line.split(":")[0] for line in results[len(good):]] == ["error", "error"], "the check can fail"


def test_mermaid_lists_every_gpu_once():
    plan = PLANS["tp4-pp3-asymmetric"]
    body = _mermaid_body(plan_mermaid(plan))
    nodes = [line.split("[", 1)[0].strip() for line in body.splitlines() if "GPU " in line and "subgraph" not in line]
    assert len(nodes) == len(set(nodes)) == plan.replicas * 12


def test_mermaid_text_keeps_labels_inside_their_quotes():
    assert mermaid_text('a"b]<c>') == "a#34;b#93;#60;c#62;"


def test_memory_table_rows():
    table = memory_table([MemoryRow("a|b", "H100", 8, 1, 16.4 * GIB, 52.6 * GIB, 1_378_160, 32768, 42.06)])
    assert table.splitlines()[2] == "| a\\|b | H100 | 8×1 | 16.4 GiB | 52.6 GiB | 1,378,160 | 42.1 × 32,768 |"
