"""The bad-input corpus (tests/bad_inputs/cases.yaml), each case through the real CLI.

Every case must exit 2 with one error line per problem, each naming its key
path (or file:line:column), with no traceback and nothing written to --out.
Time and memory per case are measured by benchmarks/bad_input.py, not here.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import PROJECT_DIR, base_config

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES: list[dict[str, Any]] = yaml.safe_load((CORPUS / "cases.yaml").read_text())
PROBLEM_PREFIX = "  - "
CODE_CASE = "python-tag-is-not-code"


def _set(document: Any, dotted: str, value: Any) -> None:
    *parents, last = [int(part) if part.isdigit() else part for part in dotted.split(".")]
    for part in parents:
        document = document.setdefault(part, {}) if isinstance(document, dict) else document[part]
    if isinstance(document, list) and last == len(document):
        document.append(value)
    else:
        document[last] = value


def _delete(document: Any, dotted: str) -> None:
    *parents, last = [int(part) if part.isdigit() else part for part in dotted.split(".")]
    for part in parents:
        document = document[part]
    del document[last]


def _stack_document(config: dict[str, Any]) -> str:
    return yaml.safe_dump({"config": {f"vllm-fleet:{key}": value for key, value in config.items()}})


def _generated(kind: str) -> bytes:
    """Stack files too large to keep in git."""
    if kind == "big-file":
        return _stack_document(base_config()).encode() + b"# padding\n" * 300_000
    if kind == "huge-engine-arg":
        config = base_config()
        config["models"][0]["engineArgs"] = {"chat-template": "x" * (1_200_000)}
        return _stack_document(config).encode()
    raise ValueError(f"unknown generator {kind!r}")


def stack_file(case: dict[str, Any]) -> bytes:
    if "file" in case:
        return (CORPUS / case["file"]).read_bytes()
    if "generate" in case:
        return _generated(case["generate"])
    config = base_config()
    for dotted, value in (case.get("set") or {}).items():
        _set(config, dotted, copy.deepcopy(value))
    for dotted in case.get("delete") or ():
        _delete(config, dotted)
    return _stack_document(config).encode()


def make_project(case: dict[str, Any], directory: Path) -> Path:
    """A throwaway copy of the project whose only stack is the case's `test`."""
    directory.mkdir(parents=True)
    shutil.copy(PROJECT_DIR / "__main__.py", directory / "__main__.py")
    if "project" in case:
        (directory / "Pulumi.yaml").write_text(case["project"])
    else:
        shutil.copy(PROJECT_DIR / "Pulumi.yaml", directory / "Pulumi.yaml")
    (directory / "stacks").mkdir()
    (directory / "stacks" / "Pulumi.test.yaml").write_bytes(stack_file(case))
    return directory


def cli_command(case: dict[str, Any], project: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "vllm_fleet.cli", "--project-dir", str(project),
        "render", case.get("stack", "test"), "--out", str(out),
    ]


def cli_env() -> dict[str, str]:
    # The checkout first; an inherited path (a worktree's entry-point metadata) stays behind it.
    inherited = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_DIR), *([inherited] if inherited else [])])}


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    out_exists: bool


def run_case(case: dict[str, Any], root: Path) -> Outcome:
    project = make_project(case, root / case["id"])
    out = project / "out"
    done = subprocess.run(
        cli_command(case, project, out), capture_output=True, text=True, env=cli_env(), timeout=120, cwd=project
    )
    return Outcome(done.returncode, done.stdout, done.stderr, out.exists())


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, Outcome]:
    """Every selected case run once; in parallel, because each is a fresh Python process."""
    selected = {
        item.callspec.params["case"]["id"]
        for item in request.session.items
        if hasattr(item, "callspec") and "case" in item.callspec.params
    }
    wanted = [case for case in CASES if case["id"] in selected or case["id"] == CODE_CASE]
    root = tmp_path_factory.mktemp("bad-inputs")
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(pool.map(lambda case: (case["id"], run_case(case, root)), wanted))


def test_corpus_is_large_and_covers_every_class():
    assert len(CASES) >= 60
    assert len({case["id"] for case in CASES}) == len(CASES)
    assert {case["class"] for case in CASES} >= {0, 3, 4, 5, 6, 7}


def problem_lines(stderr: str) -> list[str]:
    """The lines that state problems: each `  - path: message` of a ConfigError, or the one `error:` line."""
    lines = stderr.rstrip("\n").splitlines()
    if lines and lines[0].startswith("error: invalid stack config ("):
        return [line[len(PROBLEM_PREFIX):] for line in lines[1:]]
    return [line[len("error: "):] for line in lines]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_bad_input_fails_cleanly(case, outcomes):
    outcome = outcomes[case["id"]]
    assert outcome.returncode == 2, outcome.stderr
    assert "Traceback" not in outcome.stderr + outcome.stdout
    assert not outcome.out_exists, "a failed render wrote its output folder"
    lines = problem_lines(outcome.stderr)
    expected = case["expect"]
    if case.get("one_line"):
        # One problem whose line must say several things (e.g. the suggestion and the list).
        assert len(lines) == 1 and all(text in lines[0] for text in expected), outcome.stderr
        return
    assert len(lines) == len(expected), outcome.stderr
    header = outcome.stderr.splitlines()[0]
    if header.startswith("error: invalid stack config ("):
        assert header == f"error: invalid stack config ({len(expected)} problem{'s' if len(expected) != 1 else ''}):"
        # Each problem line starts with its key path: match them as multisets.
        paths = sorted(line.split(": ", 1)[0] for line in lines)
        assert paths == sorted(expected), outcome.stderr
    else:
        assert all(text in line for text, line in zip(expected, lines)), outcome.stderr


def test_a_yaml_tag_never_runs_code(outcomes):
    # python-tag.yaml asks PyYAML's unsafe loader to run `touch /tmp/vllm-fleet-pwned`.
    assert outcomes[CODE_CASE].returncode == 2
    assert not Path("/tmp/vllm-fleet-pwned").exists()
