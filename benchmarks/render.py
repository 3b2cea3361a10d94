"""How long `vllm-fleet render` and `vllm-fleet diff` take, next to what any Pulumi program pays.

The floor: a fresh process that registers the very objects the render wrote,
each with its bare pulumi-kubernetes class (or CustomResource), under Pulumi's
plain `set_mocks` (a mock that echoes the inputs, no recording, no components,
no files). It is derived from the render's own output, so a new kind of object
never breaks it. Figures are medians; the commands are interleaved so load on
the machine hits both alike.

`vllm-fleet` pauses Python's cycle collector while the program runs and skips
the final collection at exit (`vllm_fleet.render.cycle_collection_paused`,
`vllm_fleet.cli.run`); any Pulumi program could do the same. The "same gc"
column is the floor with that policy too: the ratio to it is what the
project's own code (plan, components, recording, files) costs.

    python benchmarks/render.py                 # 10, 50 and 200 models, median of 5
    python benchmarks/render.py --small         # one quick round at a few models (CI: a crash fails it)
    python benchmarks/render.py --sizes 50 --repeat 9 --diff-size 50

Targets (issue 14): render of 50 models <= 1.5x the plain floor whole-process;
200 models under 10 s on 2 cores; `diff` (two renders, base and head) < 1.7x one render.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
from vllm_fleet.project_copy import commit_all, copy_program  # noqa: E402

# A realistic mix: single-pod, Ray multi-node, native multi-node, a cache and a fabric. The models
# are in the catalog and the GPU is named, so every model gets the whole plan (memory plan included).
SHAPES = [
    {"model": "Qwen/Qwen2.5-7B-Instruct", "parallelism": {"tensor": 1}},
    {"model": "meta-llama/Llama-3.1-405B-Instruct", "parallelism": {"tensor": 16},
     "network": {"type": "rdma-shared", "resourceName": "rdma/rdma_shared_device_a"}},
    {"model": "meta-llama/Llama-3.3-70B-Instruct", "parallelism": {"tensor": 4, "pipeline": 3},
     "cache": {"type": "alluxio", "tiers": [{"medium": "MEM", "quota": "64Gi"}]}},
    {"model": "Qwen/Qwen2.5-72B-Instruct", "parallelism": {"tensor": 8, "pipeline": 2}, "launcher": "native"},
]


def fleet_config(models: int, max_model_len: int = 8192) -> dict:
    return {
        "config": {
            "vllm-fleet:namespace": "bench",
            "vllm-fleet:nodePool": {"gpusPerNode": 8, "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}},
            "vllm-fleet:models": [
                {
                    "name": f"model-{index}",
                    "storage": {"type": "new-pvc", "size": "500Gi"},
                    "engineArgs": {"max-model-len": max_model_len},
                    **SHAPES[index % len(SHAPES)],
                }
                for index in range(models)
            ],
        }
    }


def make_project(directory: Path, models: int) -> Path:
    """A copy of the project whose only stack, `bench`, has `models` models, committed in git."""
    import yaml

    copy_program(directory)
    (directory / "stacks").mkdir()
    (directory / "stacks" / "Pulumi.bench.yaml").write_text(yaml.safe_dump(fleet_config(models)))
    commit_all(directory, "base")
    return directory


def change_stack(directory: Path, models: int) -> None:
    """The PR the diff previews: a longer context for every model (a rolling restart each)."""
    import yaml

    (directory / "stacks" / "Pulumi.bench.yaml").write_text(yaml.safe_dump(fleet_config(models, max_model_len=16384)))


# ------------------------------------------------------------------ the floor


def _bare_class(k8s, api_version: str, kind: str):
    """pulumi-kubernetes' typed class for a built-in kind (`apps/v1` -> k8s.apps.v1), or None."""
    group, _, version = api_version.rpartition("/")
    module = getattr(k8s, group.removesuffix(".k8s.io") if group else "core", None)
    return getattr(getattr(module, version, None), kind, None)


def register_floor(objects: list[dict], pause_collector: bool = False) -> int:
    """Registers `objects` with bare pulumi-kubernetes calls under plain set_mocks; returns how many.

    pause_collector: no cycle collection during the registrations, as in `vllm-fleet render`.
    """
    import gc
    import re

    import pulumi
    import pulumi_kubernetes as k8s
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    class EchoMocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            return [f"{args.name}-id", args.inputs]

        def call(self, args):
            return {}

    settings.reset_options(project="vllm-fleet", stack="bench", preview=False)
    monitor = pulumi.runtime.mocks.MockMonitor(EchoMocks())
    pulumi.runtime.set_mocks(monitor.mocks, project="vllm-fleet", stack="bench", preview=False, monitor=monitor)

    async def program() -> None:  # pulumi awaits an async program; a plain function's registrations are dropped
        for obj in objects:
            name = f"{obj['kind'].lower()}-{obj['metadata'].get('namespace', '')}-{obj['metadata']['name']}"
            body = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind")}
            typed = _bare_class(k8s, obj["apiVersion"], obj["kind"])
            if typed is None:
                k8s.apiextensions.CustomResource(name, api_version=obj["apiVersion"], kind=obj["kind"], **body)
            else:
                typed(name, **{re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): value for key, value in body.items()})

    if pause_collector:
        gc.disable()
    _sync_await(run_pulumi_func(program))
    gc.enable()
    settings.reset_options()
    return sum(1 for resource in monitor.resources.values() if resource.urn.split("::")[2].split("$")[-1].startswith("kubernetes:"))


def rendered_objects(out: Path) -> list[dict]:
    """The objects a render wrote, read back from its index."""
    import yaml

    index = json.loads((out / "resources.json").read_text())
    return [yaml.safe_load((out / entry["file"]).read_text()) for entry in index["resources"] if entry["file"]]


# ------------------------------------------------------------------ timing


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], cwd: Path, cpu: list[float] | None = None) -> float:
    """Wall seconds of `command` (and its CPU seconds appended to `cpu`: steadier on a busy machine)."""
    env = dict(os.environ, PYTHONPATH=str(cwd), PYTHONDONTWRITEBYTECODE="1")
    cpu_start, start = _children_cpu(), time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if cpu is not None:
        cpu.append(_children_cpu() - cpu_start)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return elapsed


def whole_process(project: Path, objects_file: Path, out: Path, repeat: int, with_diff: bool) -> dict[str, list[float]]:
    """Interleaved runs of: render, the floor, and (with_diff) diff against the committed base."""
    python = sys.executable
    render = [python, "-m", "vllm_fleet.cli", "render", "bench", "--out", str(out), "-q"]
    floor = [python, str(Path(__file__).resolve()), "--floor", str(objects_file)]
    floor_same_gc = [*floor, "--same-gc"]
    diff = [python, "-m", "vllm_fleet.cli", "diff", "bench", "--base", "HEAD", "-o", str(out.parent / "diff.txt")]
    times: dict[str, list[float]] = {"render": [], "floor": [], "floor same gc": [], "diff": [], "render cpu": [], "floor cpu": []}
    for _ in range(repeat):
        times["render"].append(_timed(render, project, times["render cpu"]))
        times["floor"].append(_timed(floor, project, times["floor cpu"]))
        times["floor same gc"].append(_timed(floor_same_gc, project))
        if with_diff:
            times["diff"].append(_timed(diff, project))
    return times


def in_process(project_dir: Path, objects: list[dict], out: Path, repeat: int) -> dict[str, list[float]]:
    """The same, inside this process: no interpreter start nor imports (this checkout's code)."""
    sys.path.insert(0, str(PROJECT_DIR))
    from vllm_fleet.render import load_project, render_stack, write_render

    project = load_project(project_dir)
    write_render(render_stack(project, "bench"), out)  # warm: the program's imports are not timed
    register_floor(objects)
    times: dict[str, list[float]] = {"render": [], "floor": []}
    for _ in range(repeat):
        start = time.perf_counter()
        write_render(render_stack(project, "bench"), out)
        times["render"].append(time.perf_counter() - start)
        start = time.perf_counter()
        register_floor(objects)
        times["floor"].append(time.perf_counter() - start)
    return times


def measure(models: int, repeat: int, with_diff: bool) -> str:
    with tempfile.TemporaryDirectory(prefix="vllm-fleet-bench-") as scratch:
        project = make_project(Path(scratch) / "project", models)
        out = Path(scratch) / "rendered"
        _timed([sys.executable, "-m", "vllm_fleet.cli", "render", "bench", "--out", str(out), "-q"], project)
        objects = rendered_objects(out)
        objects_file = Path(scratch) / "objects.json"
        objects_file.write_text(json.dumps(objects))
        floor_count = int(subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--floor", str(objects_file)],
            capture_output=True, text=True, check=True,
        ).stdout)
        if floor_count != len(objects):
            raise SystemExit(f"the floor registered {floor_count} objects, the render wrote {len(objects)}")
        if with_diff:
            change_stack(project, models)
        whole = {k: statistics.median(v) for k, v in whole_process(project, objects_file, out, repeat, with_diff).items() if v}
        inside = {k: statistics.median(v) for k, v in in_process(project, objects, out, repeat).items()}
    row = (
        f"{models:>6} {len(objects):>7}  {whole['render']:>7.2f} {whole['floor']:>7.2f} {whole['render'] / whole['floor']:>6.2f}x"
        f"  {whole['render cpu'] / whole['floor cpu']:>6.2f}x"
        f"  {whole['floor same gc']:>7.2f} {whole['render'] / whole['floor same gc']:>6.2f}x"
        f"  {inside['render']:>7.2f} {inside['floor']:>7.2f} {inside['render'] / inside['floor']:>6.2f}x"
    )
    if with_diff:
        row += f"  {whole['diff']:>6.2f} {whole['diff'] / whole['render']:>6.2f}x"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,200", help="model counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds; medians are printed")
    parser.add_argument("--diff-size", type=int, default=50, help="the size at which `diff` is timed too (0: never)")
    parser.add_argument("--small", action="store_true", help="CI: 1 and 4 models, one round, diff at 4")
    parser.add_argument("--floor", metavar="OBJECTS_JSON", help=argparse.SUPPRESS)
    parser.add_argument("--same-gc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:  # the floor's own fresh process
        print(register_floor(json.loads(Path(args.floor).read_text()), pause_collector=args.same_gc), flush=True)
        if args.same_gc:
            import gc

            gc.freeze()  # as vllm_fleet.cli.run: no final collection at exit
        return
    sizes, repeat, diff_size = [int(size) for size in args.sizes.split(",")], args.repeat, args.diff_size
    if args.small:
        sizes, repeat, diff_size = [1, 4], 1, 4
    print(f"medians of {repeat}; cpus: {os.cpu_count()}; floor = bare pulumi-kubernetes calls under plain set_mocks")
    print(f"{'':>15}  {'whole process (wall s, ratio; CPU ratio; floor with the same gc)':^56}  {'in process (s)':^24}"
          f"  {'diff (s)':^13}")
    print(f"{'models':>6} {'objects':>7}  {'render':>7} {'floor':>7} {'ratio':>7}  {'cpu':>6}x  {'same gc':>7} {'ratio':>7}"
          f"  {'render':>7} {'floor':>7} {'ratio':>7}  {'diff':>6} {'/render':>7}")
    for models in sizes:
        print(measure(models, repeat, with_diff=models == diff_size), flush=True)


if __name__ == "__main__":
    main()
