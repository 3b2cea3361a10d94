"""A copy of this project's program in a scratch folder: what `vllm-fleet diff` needs in a checkout.

The docs samples, the render benchmark and the git diff tests each build a
throwaway project (a sample PR, a fleet of N models, a repository with a base
tag); they copy the same files, so the list lives here once.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
#: The program, its package, templates and plugin entry points (stacks are the caller's).
PROGRAM_FILES = ("Pulumi.yaml", "__main__.py", "pyproject.toml", "components", "vllm_fleet", "templates")


def copy_program(destination: Path, extra: tuple[str, ...] = (), source_dir: Path = PROJECT_DIR) -> Path:
    """Copies PROGRAM_FILES (and `extra`, e.g. "stacks") into a new `destination`."""
    destination.mkdir(parents=True)
    for name in PROGRAM_FILES + extra:
        source = source_dir / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination / name)
    return destination


def git_command(repo: Path) -> list[str]:
    """`git -C repo` as a throwaway identity that never signs (a user's signing setup must not prompt)."""
    identity = ["-c", "user.name=vllm-fleet", "-c", "user.email=vllm-fleet@localhost.invalid", "-c", "commit.gpgsign=false"]
    return ["git", *identity, "-C", str(repo)]


def commit_all(repo: Path, message: str, *, branch: str = "main") -> None:
    """`git init` (if needed), add everything and commit, as a throwaway identity."""
    git = git_command(repo)
    if not (repo / ".git").exists():
        subprocess.run([*git, "init", "-q", "-b", branch], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", message], check=True)
