"""Renders a stack at a git ref and in the working tree, each with its own code.

The base must be rendered by the base's program, not the working tree's: a PR
that changes a component would otherwise change both sides and show nothing.
So each side runs `python -m vllm_fleet.cli render` in a subprocess, with its
own checkout first on PYTHONPATH (the `components` package and `templates/`
then come from that checkout). Plugins are found through entry points, which
belong to the *installed* package; a shim dist-info built from the checkout's
own pyproject.toml shadows them, so a PR that adds or removes a plugin still
renders its base.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..plugins.registry import PLUGIN_GROUP
from ..render import RenderError, load_project
from .diff import Snapshot, load_snapshot
from .secrets import ciphertext_fingerprints, with_fingerprints

try:  # Python 3.11+; on 3.10 the installed entry points are used as they are.
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    tomllib = None  # type: ignore[assignment]

DISTRIBUTION = "vllm-fleet"
WORKING_TREE = "the working tree"


class SourceError(Exception):
    """Git can't give us the base (not a repository, unknown ref)."""


@dataclass(frozen=True)
class Rendered:
    """One side of one stack: a snapshot, or None when the stack doesn't exist there (or failed)."""

    snapshot: Optional[Snapshot] = None
    error: Optional[str] = None


def _git(directory: Path, *args: str, binary: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=not binary, check=False)


def resolve_ref(project_dir: Path, ref: str) -> str:
    result = _git(project_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if result.returncode != 0:
        hint = " (in CI, check out with fetch-depth: 0 so the base branch is there)" if "/" in ref else ""
        raise SourceError(f"--base {ref!r} is not a commit in the repository at {project_dir}{hint}")
    return result.stdout.strip()


def export_ref(project_dir: Path, ref: str, destination: Path) -> Path:
    """Writes the project's files as of `ref` into `destination`, without touching the repository."""
    project_dir = project_dir.resolve()
    top = _git(project_dir, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise SourceError(f"{project_dir} is not inside a git repository: {top.stderr.strip()}")
    commit = resolve_ref(project_dir, ref)
    relative = project_dir.relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    tree = commit if relative == "." else f"{commit}:{relative}"
    destination.mkdir(parents=True, exist_ok=True)
    archive = _git(project_dir, "archive", "--format=tar", tree, binary=True)
    if archive.returncode == 0:  # otherwise the project folder didn't exist yet: every stack is new
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(destination, filter="data")
    return destination


def _entry_point_shim(checkout: Path, destination: Path) -> Optional[Path]:
    """A dist-info holding the checkout's own plugin entry points (first on sys.path, it wins)."""
    pyproject = checkout / "pyproject.toml"
    if tomllib is None or not pyproject.is_file():
        return None
    project = tomllib.loads(pyproject.read_text()).get("project", {})
    plugins = project.get("entry-points", {}).get(PLUGIN_GROUP)
    if plugins is None:
        return None
    info = destination / f"{DISTRIBUTION.replace('-', '_')}-{project.get('version', '0')}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: {project.get('version', '0')}\n")
    lines = [f"[{PLUGIN_GROUP}]"] + [f"{name} = {target}" for name, target in plugins.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return destination


def _error_text(stderr: str) -> str:
    """The renderer's own message (key paths included), without interpreter-shutdown noise."""
    lines = stderr.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), None)
    if start is None:
        return "\n".join(lines[-15:]).strip() or "the renderer exited without a message"
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("Exception ignored")), len(lines))
    return "\n".join(lines[start:end]).strip()


@dataclass(frozen=True)
class Side:
    """A project folder to render: a checkout of the base ref, or the working tree itself."""

    label: str
    directory: Path
    scratch: Path

    def stacks(self) -> list[str]:
        try:
            return load_project(self.directory).stacks()
        except RenderError:
            return []

    def has_stack(self, stack: str) -> bool:
        return stack in self.stacks()

    def render(self, stack: str) -> Rendered:
        if not self.has_stack(stack):
            return Rendered()
        out = self.scratch / "renders" / stack
        paths = [str(self.directory)]
        shim = _entry_point_shim(self.directory, self.scratch / "entry-points")
        if shim is not None:
            paths.append(str(shim))
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [os.environ.get("PYTHONPATH")] if p])
        command = [sys.executable, "-m", "vllm_fleet.cli", "--project-dir", ".", "render", stack, "--out", str(out), "-q"]
        result = subprocess.run(command, cwd=self.directory, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            return Rendered(error=f"{stack} does not render at {self.label}:\n{_error_text(result.stderr)}")
        project = load_project(self.directory)
        secrets = ciphertext_fingerprints(project.stack_file(stack), project.name)
        return Rendered(with_fingerprints(load_snapshot(out), secrets))


def base_side(project_dir: Path, ref: str, scratch: Path) -> Side:
    return Side(ref, export_ref(project_dir, ref, scratch / "checkout"), scratch)


def working_tree_side(project_dir: Path, scratch: Path) -> Side:
    return Side(WORKING_TREE, project_dir.resolve(), scratch)
