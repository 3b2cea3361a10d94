"""How long `vllm-fleet render` takes for fleets of 1, 10 and 50 models.

Beside each figure: the floor, i.e. registering the very same objects with bare
pulumi-kubernetes calls under the same mock monitor (no config validation, no
plan, no components, no templates). The difference is what vllm-fleet costs.

    python benchmarks/render.py [--repeat 3] [--sizes 1,10,50]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

import pulumi  # noqa: E402
import pulumi_kubernetes as k8s  # noqa: E402
from pulumi.runtime import settings  # noqa: E402
from pulumi.runtime.stack import run_pulumi_func  # noqa: E402
from pulumi.runtime.sync_await import _sync_await  # noqa: E402

from components.render import _Mocks, _RecordingMonitor, load_project, render_stack  # noqa: E402

# A realistic mix: single-pod, Ray multi-node, native multi-node.
SHAPES = [
    {"parallelism": {"tensor": 1}},
    {"parallelism": {"tensor": 16}},
    {"parallelism": {"tensor": 4, "pipeline": 3}},
    {"parallelism": {"tensor": 8, "pipeline": 2}, "launcher": "native"},
]


def fleet_config(models: int) -> dict:
    return {
        "config": {
            "vllm-fleet:namespace": "bench",
            "vllm-fleet:nodePool": {"gpusPerNode": 8},
            "vllm-fleet:models": [
                {
                    "name": f"model-{index}",
                    "model": f"org/model-{index}",
                    "storage": {"type": "new-pvc", "size": "500Gi"},
                    "engineArgs": {"max-model-len": 8192},
                    **SHAPES[index % len(SHAPES)],
                }
                for index in range(models)
            ],
        }
    }


def make_project(directory: Path, models: int):
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(PROJECT_DIR / name, directory / name)
    (directory / "stacks").mkdir()
    (directory / "stacks" / "Pulumi.bench.yaml").write_text(yaml.safe_dump(fleet_config(models)))
    return load_project(directory)


_TYPED = {
    "Namespace": k8s.core.v1.Namespace,
    "PersistentVolumeClaim": k8s.core.v1.PersistentVolumeClaim,
    "ConfigMap": k8s.core.v1.ConfigMap,
    "Service": k8s.core.v1.Service,
    "StatefulSet": k8s.apps.v1.StatefulSet,
}


def register_bare(objects: list[dict]) -> float:
    """The floor: one bare pulumi-kubernetes call per object, same mock monitor."""
    mock = _Mocks()
    settings.reset_options(project="vllm-fleet", stack="bench", preview=False)
    pulumi.runtime.set_mocks(mock, project="vllm-fleet", stack="bench", preview=False, monitor=_RecordingMonitor(mock))

    def program():
        for obj in objects:
            body = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind")}
            _TYPED[obj["kind"]](f"{obj['kind']}-{obj['metadata']['name']}", **body)

    start = time.perf_counter()
    _sync_await(run_pulumi_func(program))
    elapsed = time.perf_counter() - start
    settings.reset_options()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="1,10,50")
    args = parser.parse_args()

    print(f"{'models':>6} {'objects':>8} {'render s':>9} {'bare s':>8} {'ratio':>6}  (median of {args.repeat})")
    for models in (int(size) for size in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            project = make_project(Path(folder), models)
            render_times, bare_times = [], []
            for _ in range(args.repeat):
                start = time.perf_counter()
                rendered = render_stack(project, "bench")
                render_times.append(time.perf_counter() - start)
                bare_times.append(register_bare(rendered.objects()))
            render_s, bare_s = statistics.median(render_times), statistics.median(bare_times)
            print(f"{models:>6} {len(rendered.objects()):>8} {render_s:>9.3f} {bare_s:>8.3f} {render_s / bare_s:>6.2f}")


if __name__ == "__main__":
    main()
