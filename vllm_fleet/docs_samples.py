"""Every sample of the tool's output in README.md and docs/*.md, produced by running the tool.

Samples drift: a new column, a renamed folder, a script that changed. So none is
written by hand. Each sits between two markers, and this module rewrites what is
between them from a real run (a render of the shipped stacks, a bad config, a
real `vllm-fleet diff` of a realistic PR in a throwaway git repository):

    <!-- sample: plan-table prod -->
    ...generated...
    <!-- /sample -->

    python -m vllm_fleet.docs_samples --write    # rewrite them (also: make docs-samples)
    python -m vllm_fleet.docs_samples --check    # exit 1 naming every stale sample

tests/test_docs_samples.py runs the check.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import yaml

from .project_copy import commit_all, copy_program, git_command
from .render import PICTURES_DIR

PROJECT_DIR = Path(__file__).resolve().parent.parent
DOCUMENTS = ("README.md", "docs/*.md")
REFRESH_COMMAND = "python -m vllm_fleet.docs_samples --write   (or: make docs-samples)"
SAMPLE = re.compile(r"^<!-- sample: (?P<spec>[^>]+?) -->\n(?P<body>.*?)^<!-- /sample -->$", re.S | re.M)
BASE_REF = "origin/main"


class SampleError(Exception):
    """A marker names no known sample, or the sample's input no longer exists in the stacks."""


@dataclass(frozen=True)
class Edit:
    """One change of the sample PR: a model's key in a stack file, and how a reviewer would say it."""

    stack: str
    model: str
    path: tuple[str, ...]
    value: Any
    says: str


# The sample PR: a rolling restart in dev, and in prod a claim that must be replaced
# (data loss, blocked by protect) plus a group whose shape changes (group restart).
SAMPLE_PR = (
    Edit("dev", "qwen-small", ("engineArgs", "max-model-len"), 16384, "dev raises `qwen-small`'s `max-model-len` to 16384"),
    Edit("prod", "qwen-72b", ("storage", "storageClass"), "fast-nvme",
         "prod moves `qwen-72b`'s weights claim to the `fast-nvme` storage class"),
    Edit("prod", "qwen-72b", ("parallelism", "pipeline"), 4, "prod gives `qwen-72b` PP=4 instead of 3"),
)
# The README's config-error sample: a typo and a plan error in one model, both reported at once.
BAD_CONFIG = (
    Edit("dev", "qwen-small", ("parallelism",), {"tensr": 1}, "a misspelt key"),
    Edit("dev", "qwen-small", ("gpusPerPod",), 2, "more GPUs per pod than a dev node has"),
)


def _copy_project(destination: Path) -> Path:
    """The program and the stacks as shipped."""
    return copy_program(destination, extra=("stacks",))


def _apply(project: Path, edits: tuple[Edit, ...]) -> None:
    """Sets each edit's key of a model (the model and the key's parent must exist; comments are lost)."""
    for edit in edits:
        stack_file = project / "stacks" / f"Pulumi.{edit.stack}.yaml"
        document = yaml.safe_load(stack_file.read_text())
        models = document["config"]["vllm-fleet:models"]
        model = next((m for m in models if m.get("name") == edit.model), None)
        parent = model
        for key in edit.path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            where = ".".join(edit.path)
            raise SampleError(
                f"the docs' sample ({edit.says}) no longer applies: stacks/Pulumi.{edit.stack}.yaml has no "
                f"{edit.model}.{where}; change SAMPLE_PR or BAD_CONFIG in vllm_fleet/docs_samples.py"
            )
        parent[edit.path[-1]] = edit.value
        stack_file.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


def _cli(*argv: str) -> tuple[int, str, str]:
    """`vllm-fleet ARGV` in this process: exit code, stdout, stderr."""
    from .cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _git(repo: Path, *args: str) -> None:
    subprocess.run([*git_command(repo), *args], check=True, capture_output=True)


class Runs:
    """The tool's real output, each run once and only when a sample asks for it."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self._renders: dict[str, tuple[str, Path]] = {}

    def render(self, stack: str) -> tuple[str, Path]:
        """What `vllm-fleet render STACK` prints (paths as from the project root), and where it wrote."""
        if stack not in self._renders:
            out = self.scratch / "renders"
            code, printed, errors = _cli("--project-dir", str(PROJECT_DIR), "render", stack, "--out", str(out / stack))
            if code != 0:
                raise SampleError(f"vllm-fleet render {stack} failed: {errors.strip()}")
            self._renders[stack] = (printed.replace(f"{out}/", "rendered/"), out / stack)
        return self._renders[stack]

    @cached_property
    def bad_config(self) -> tuple[int, str]:
        project = _copy_project(self.scratch / "bad-config")
        stack = BAD_CONFIG[0].stack
        _apply(project, BAD_CONFIG)
        code, _, errors = _cli("--project-dir", str(project), "render", stack, "--out", str(self.scratch / "bad-out"))
        return code, errors

    @cached_property
    def sample_pr(self) -> Path:
        """A git repository: the stacks as shipped at origin/main, the sample PR committed on top."""
        repo = _copy_project(self.scratch / "repo")
        commit_all(repo, "main")
        _git(repo, "update-ref", f"refs/remotes/{BASE_REF}", "HEAD")
        _apply(repo, SAMPLE_PR)
        _git(repo, "commit", "-qam", "the sample PR")
        return repo

    @cached_property
    def comment(self) -> tuple[int, str]:
        return self._diff("markdown")

    @cached_property
    def terminal(self) -> tuple[int, str]:
        return self._diff("text")

    def _diff(self, form: str) -> tuple[int, str]:
        report = self.scratch / f"diff.{form}"
        code, _, errors = _cli(
            "--project-dir", str(self.sample_pr), "diff", "--all-stacks", "--base", BASE_REF,
            "--format", form, "--output", str(report), "--fail-on", "danger",
        )
        if code == 2:
            raise SampleError(f"vllm-fleet diff failed on the sample PR: {errors.strip()}")
        return code, report.read_text()


# ------------------------------------------------------------------ samples


def _fenced(text: str, language: str = "") -> str:
    return f"```{language}\n{text.rstrip()}\n```\n"


def plan_table(runs: Runs, stack: str) -> str:
    printed, _ = runs.render(stack)
    return _fenced(printed)


def output_tree(runs: Runs, stack: str) -> str:
    """The folders of a real render, one example file each, and the two index files."""
    _, out = runs.render(stack)
    rows = []
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        files = sorted(p.name for p in folder.iterdir())
        example = next((f for f in files if f.startswith("statefulset-")), files[0])
        if folder.name == PICTURES_DIR:
            what = f"the plan of each model as an SVG ({len(files)} here): pods, GPUs, TP rank, PP stage, memory"
        elif folder.name == "_cluster":
            what = "cluster-scoped objects"
        else:
            what = f"one YAML per object ({len(files)} here), keys sorted"
        rows.append((f"{folder.name}/{example}", what))
    rows.append(("resources.json", "every resource: URN, type, parent, protect, retainOnDelete, dependsOn"))
    rows.append(("outputs.json", "the stack outputs (per-model plan, API URLs)"))
    width = max(len(path) for path, _ in rows) + 3
    return _fenced("\n".join([f"rendered/{stack}/"] + [f"  {path.ljust(width)}{what}" for path, what in rows]))


def plan_pictures(runs: Runs, stack: str) -> str:
    """One image per model the render drew, from `docs/images/<stack>-plan/` (`vllm-fleet plan STACK --out` there)."""
    _, out = runs.render(stack)
    names = sorted(p.stem for p in (out / PICTURES_DIR).glob("*.svg"))
    return "".join(f"![{name} plan](docs/images/{stack}-plan/{name}.svg)\n" for name in names)


def config_error(runs: Runs) -> str:
    code, errors = runs.bad_config
    if code != 2:
        raise SampleError(f"the bad config sample exited {code}, not 2: {errors.strip()}")
    return _fenced(errors)


def _pr_intro(code: int) -> str:
    says = "; ".join(edit.says for edit in SAMPLE_PR)
    return (
        f"A sample PR: {says}.\nThis is the comment `vllm-fleet diff --all-stacks --base {BASE_REF} --format markdown`"
        f" writes for it\n(generated by `vllm_fleet/docs_samples.py`; with `--fail-on danger` the command exits {code}):\n"
    )


def pr_comment(runs: Runs, part: str) -> str:
    """`summary`: the comment's head as a quote (README); `full`: the whole comment between rules."""
    code, comment = runs.comment
    if part == "full":
        return f"{_pr_intro(code)}\n---\n\n{comment.rstrip()}\n\n---\n"
    if part != "summary":
        raise SampleError(f"pr-comment takes 'summary' or 'full', not {part!r}")
    head = comment.split("<details>", 1)[0].rstrip()
    quoted = "\n".join(f"> {line}".rstrip() for line in head.splitlines())
    return f"{_pr_intro(code)}\n{quoted}\n>\n> (then one folded `<details>` block per changed stack with the field-level diff)\n"


def diff_terminal(runs: Runs) -> str:
    _, text = runs.terminal
    return f"The same in a terminal (`vllm-fleet diff --all-stacks --base {BASE_REF}`):\n\n{_fenced(text)}"


PRODUCERS: dict[str, Callable[..., str]] = {
    "plan-table": plan_table,
    "output-tree": output_tree,
    "plan-pictures": plan_pictures,
    "config-error": config_error,
    "pr-comment": pr_comment,
    "diff-terminal": diff_terminal,
}


# ------------------------------------------------------------------ documents


def documents(root: Path = PROJECT_DIR) -> list[Path]:
    return sorted(path for pattern in DOCUMENTS for path in root.glob(pattern))


def regenerate(text: str, runs: Runs, where: str = "") -> str:
    """`text` with every sample between its markers rewritten from the tool."""

    def produce(match: re.Match) -> str:
        name, *args = match["spec"].split()
        if name not in PRODUCERS:
            raise SampleError(f"{where}: unknown sample {name!r}; known: {', '.join(sorted(PRODUCERS))}")
        body = PRODUCERS[name](runs, *args)
        return f"<!-- sample: {match['spec']} -->\n{body}<!-- /sample -->"

    return SAMPLE.sub(produce, text)


def stale_samples(root: Path = PROJECT_DIR, scratch: Optional[Path] = None) -> dict[Path, str]:
    """Each document whose samples differ from the tool's output -> its regenerated text."""
    with _scratch(scratch) as folder:
        runs = Runs(folder)
        changed = {}
        for path in documents(root):
            text = path.read_text()
            fresh = regenerate(text, runs, str(path.relative_to(root)))
            if fresh != text:
                changed[path] = fresh
        return changed


@contextlib.contextmanager
def _scratch(folder: Optional[Path]) -> Iterator[Path]:
    if folder is not None:
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="vllm-fleet-docs-") as made:
        yield Path(made)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vllm_fleet.docs_samples", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the stale samples in place")
    action.add_argument("--check", action="store_true", help="exit 1 if a sample differs from the tool's output")
    args = parser.parse_args(argv)
    try:
        changed = stale_samples()
    except SampleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path, fresh in changed.items():
        if args.write:
            path.write_text(fresh)
        print(f"{'rewrote' if args.write else 'stale'}: {path.relative_to(PROJECT_DIR)}")
    if args.check and changed:
        print(f"refresh them with: {REFRESH_COMMAND}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
