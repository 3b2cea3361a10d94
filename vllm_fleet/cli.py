"""`vllm-fleet`: render stacks offline and preview PRs (no cluster, no Pulumi CLI, no network).

Exit codes: 0 done; 1 `diff --fail-on` matched (a dangerous step, or any
change); 2 bad config, a stack that doesn't render, or an unusable --base.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Sequence

from .capacity.memory import gib
from .summary import PlanSummary, gpu_type, model_cost_per_day, stack_total_line

if TYPE_CHECKING:
    from .render import Render

# Each command imports what it uses when it runs: `render` never loads the preview
# package, and `--help` loads neither (`python -X importtime -m vllm_fleet.cli render ...`).
FAIL_ON_CHOICES = ("never", "danger", "any-change")


def _gpus_per_pod(row: PlanSummary) -> str:
    if row.pods == 1:
        return str(row.head_gpus)
    if row.head_gpus == row.worker_gpus:
        return f"{row.pods}×{row.worker_gpus}"
    return f"{row.head_gpus} + {row.pods - 1}×{row.worker_gpus}"


def _memory_cells(row: PlanSummary) -> tuple[str, str]:
    """Weights per GPU and KV tokens that fit; '-' without a memory plan (unknown model or GPU: see the warning)."""
    if row.kv_tokens is None:
        return "-", "-"
    return gib(row.weights_per_gpu), f"{row.kv_tokens:,}"


def _groups_and_gpus(row: PlanSummary) -> tuple[str, str]:
    """GROUPS and GPUS cells: one count, or the autoscaler's range (`2–4`, `32–64 (2–4×16)`)."""
    if row.min_replicas != row.max_replicas:
        groups = f"{row.min_replicas}–{row.max_replicas}"
        low, high = row.gpu_range
        return groups, f"{low}–{high} ({groups}×{row.group_gpus})"
    gpus = str(row.total_gpus) if row.replicas == 1 else f"{row.total_gpus} ({row.replicas}×{row.group_gpus})"
    return str(row.replicas), gpus


def plan_table(render: Render) -> str:
    """What the stack will run, so a reviewer sees GPUs, memory and cost before anything is applied.

    PODS and GPUS/POD describe one group; GPUS is every GPU the model requests
    (groups × TP×PP), from its fewest to its most groups when it autoscales; W/GPU
    and KV TOKENS are the memory plan of its fullest GPU. PRIORITY is the model's
    tier, SCHEDULING its gang scheduler ("default": the default scheduler, pod by pod).
    """
    models = {name: PlanSummary.from_output(row) for name, row in render.outputs.get("models", {}).items()}
    prices = render.outputs.get("pricing", {})
    header = ("MODEL", "TP×PP", "GROUPS", "PODS", "GPUS/POD", "GPUS", "WORKLOAD", "LAUNCHER",
              "GPU", "W/GPU", "KV TOKENS", "COST/DAY", "CACHE", "NETWORK", "PRIORITY", "SCHEDULING", "API")
    rows = [header]
    notes = []
    for name, row in models.items():
        groups, gpus = _groups_and_gpus(row)
        if row.gpu_slice:  # counts are MIG slices of one GPU, not GPUs
            gpus = f"{gpus} slice {row.gpu_slice}"
        rows.append((
            name,
            f"{row.tensor}×{row.pipeline}",
            groups,
            str(row.pods),
            _gpus_per_pod(row),
            gpus,
            row.workload,
            row.launcher,
            gpu_type(row),
            *_memory_cells(row),
            model_cost_per_day(row, prices),
            row.cache,
            row.network,
            row.priority or "default",
            row.scheduling or "default",
            row.api_url,
        ))
        notes.extend(f"{name}: {note}" for note in row.notes)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [f"stack {render.stack} (namespace {render.outputs.get('namespace', '?')})"]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines += [f"  note: {note}" for note in notes]
    if models:
        lines.append(f"  GPUs requested: {stack_total_line(models, prices)}")
    return "\n".join(lines)


def print_warnings(render: Render) -> None:
    """The plan's warnings (a tight KV cache, a skipped memory plan) on stderr, even with --quiet."""
    for row in render.outputs.get("models", {}).values():
        for warning in row.get("warnings", ()):
            print(f"warning: {warning}", file=sys.stderr)


def _cmd_render(args: argparse.Namespace) -> int:
    from .render import RenderError, load_project, render_stack, write_render

    if bool(args.stack) == args.all_stacks:
        raise RenderError("name one STACK or pass --all-stacks")
    project = load_project(args.project_dir)
    stacks = project.stacks() if args.all_stacks else [args.stack]
    # Render every stack before writing any, so one bad stack writes nothing at all.
    renders = [render_stack(project, stack) for stack in stacks]
    for render in renders:
        out = Path(args.out or "rendered") / render.stack if args.all_stacks else Path(args.out or f"rendered/{render.stack}")
        written = write_render(render, out)
        print_warnings(render)
        if not args.quiet:
            print(plan_table(render))
            print(f"  {len(render.objects())} objects -> {written}\n")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    """The plan table and one SVG per model, without writing any object: the plan before the render."""
    from .render import load_project, render_stack, write_pictures

    render = render_stack(load_project(args.project_dir), args.stack)
    written = write_pictures(render, Path(args.out or f"plans/{render.stack}"))
    print_warnings(render)
    print(plan_table(render))
    for path in written:
        print(f"  plan picture -> {path}")
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from .preview import FailOn, SourceError, Status, preview, should_fail
    from .preview.report import render_markdown, render_text
    from .render import RenderError

    if bool(args.stack) == args.all_stacks:
        raise RenderError("name one STACK or pass --all-stacks")
    try:
        diffs = preview(Path(args.project_dir), args.base, None if args.all_stacks else args.stack)
    except SourceError as error:
        raise RenderError(str(error)) from error
    view = render_markdown if args.format == "markdown" else render_text
    report = view(diffs, args.base)
    if args.output:
        Path(args.output).write_text(report)
    else:
        sys.stdout.write(report)
    if any(diff.status is Status.ERROR for diff in diffs):
        for diff in diffs:
            if diff.error:
                print(f"error: {diff.error}", file=sys.stderr)
        return 2
    return 1 if should_fail(diffs, FailOn(args.fail_on)) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vllm-fleet", description=__doc__)
    parser.add_argument("--project-dir", default=".", help="folder holding Pulumi.yaml (default: .)")
    commands = parser.add_subparsers(dest="command", required=True)

    render = commands.add_parser("render", help="render a stack's Kubernetes objects offline")
    render.add_argument("stack", nargs="?", help="stack name (stacks/Pulumi.<stack>.yaml)")
    render.add_argument("--all-stacks", action="store_true", help="render every stack under stackConfigDir")
    render.add_argument("--out", help="output folder (default rendered/<stack>; with --all-stacks, a parent)")
    render.add_argument("-q", "--quiet", action="store_true", help="don't print the plan table")
    render.set_defaults(handler=_cmd_render)

    plan = commands.add_parser(
        "plan",
        help="print a stack's plan (GPUs, memory per GPU, cost) and write one SVG per model; checks what render checks",
    )
    plan.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    plan.add_argument("--out", help="folder for <model>.svg (default plans/<stack>); other files in it are kept")
    plan.set_defaults(handler=_cmd_plan)

    diff = commands.add_parser(
        "diff",
        help="preview a PR offline: render at --base and in the working tree, show what pulumi preview would do",
        description="Exit codes: 0 previewed; 1 --fail-on matched; 2 bad config, render failure or bad --base.",
    )
    diff.add_argument("stack", nargs="?", help="stack name (stacks/Pulumi.<stack>.yaml)")
    diff.add_argument("--all-stacks", action="store_true", help="every stack that exists at --base or in the working tree")
    diff.add_argument("--base", default="HEAD", help="git ref to compare with, e.g. origin/main (default: HEAD)")
    diff.add_argument("--format", choices=("text", "markdown"), default="text", help="markdown: a PR comment body")
    diff.add_argument(
        "--fail-on",
        choices=FAIL_ON_CHOICES,
        default="never",
        help="exit 1 on a dangerous step (danger) or on any change (any-change); default never",
    )
    diff.add_argument("-o", "--output", help="write the report to this file instead of stdout")
    diff.set_defaults(handler=_cmd_diff)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .errors import ConfigError, PluginValidationError
    from .render import RenderError

    try:
        return args.handler(args)
    except (ConfigError, RenderError, PluginValidationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run() -> NoReturn:
    """The console command: `main` without Python's cycle collector, and an exit that skips its last pass.

    A command is a short process whose heap only grows: the program's types,
    the plan, the recorded objects. Each full collection walks all of it again
    (40% of a 200-model render) to find little: reference counting frees
    nearly all garbage at once, and what cycles remain (about 30 MB at 200
    models) go when the process does. At exit the interpreter would still
    collect the whole heap (0.3-0.6 s at 50 models) only to free memory the OS
    takes back anyway: freezing puts every object out of its reach. Files are
    written and closed by then; the streams are flushed at exit as usual.
    `main` keeps the collector as the caller has it (tests run it in-process).
    """
    gc.disable()
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
