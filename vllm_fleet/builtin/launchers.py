"""Launchers: how a model's group of pods becomes one vLLM engine.

When TP×PP fits one pod every launcher runs plain `vllm serve` (no Ray, no
workers). Otherwise `ray` forms a Ray cluster and waits for exactly the planned
GPUs before serving; `native` uses vLLM's own --nnodes/--node-rank launcher.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ..constants import DRAIN_STOP_MARGIN_SECONDS
from ..sdk import ENTRYPOINT_DIR, RAY_PORTS, Entrypoints, ModelPlan, PluginSettings, Probes, make_probes
from ..sdk import render_template as render


HTTP_HEALTH = {"httpGet": {"path": "/health", "port": "http"}}


def _exec(*argv: str) -> dict:
    return {"exec": {"command": list(argv)}}


def _script(name: str) -> tuple[str, ...]:
    return ("/bin/bash", f"{ENTRYPOINT_DIR}/{name}")


def single_pod_entrypoints(plan: ModelPlan) -> Entrypoints:
    """TP×PP fits one pod: vLLM's default multiprocessing executor, nothing to coordinate."""
    script = render("single.sh.j2", model_name=plan.name, serve_args=list(plan.serve_args))
    budget = plan.config.startup_timeout_seconds
    return Entrypoints(
        scripts={"head.sh": script},
        head_command=_script("head.sh"),
        head_probes=make_probes(HTTP_HEALTH, HTTP_HEALTH, HTTP_HEALTH, budget),
        startup_budget_seconds=budget,
    )


def group_entrypoints(
    folder: str, context: dict, head_probes: Probes, worker_probes: Probes, budget: int, uses_ray: bool = False
) -> Entrypoints:
    """A multi-pod group: head.sh, worker.sh and probe.sh from `templates/<folder>/`, one context."""
    return Entrypoints(
        scripts={f"{script}.sh": render(f"{folder}/{script}.sh.j2", **context) for script in ("head", "worker", "probe")},
        head_command=_script("head.sh"),
        worker_command=_script("worker.sh"),
        head_probes=head_probes,
        worker_probes=worker_probes,
        uses_ray=uses_ray,
        startup_budget_seconds=budget,
    )


class RayLauncher:
    kind: ClassVar[str] = "launcher"
    name: ClassVar[str] = "ray"
    uniform_pods: ClassVar[bool] = False

    class Settings(PluginSettings):
        wait_timeout_seconds: int = Field(
            600, gt=0, description="Bound on head-waits-for-workers and worker-waits-for-head."
        )
        poll_interval_seconds: int = Field(5, gt=0, description="How often waits and the watchdog look.")
        watchdog_grace_seconds: int = Field(
            60, ge=0, description="After the group loses a member: unready at once, head exits after this."
        )

    def entrypoints(self, settings: "RayLauncher.Settings", plan: ModelPlan) -> Entrypoints:
        if not plan.gpus.multi_node:
            return single_pod_entrypoints(plan)
        context = {
            "model_name": plan.name,
            "expected_nodes": plan.gpus.pods,
            "expected_gpus": plan.gpus.total_gpus,
            "head_gpus": plan.gpus.head_gpus,
            "worker_gpus": plan.gpus.worker_gpus,
            "ray_ports": RAY_PORTS,
            "api_port": plan.api_port,
            "wait_timeout_seconds": settings.wait_timeout_seconds,
            "poll_interval_seconds": settings.poll_interval_seconds,
            "watchdog_grace_seconds": settings.watchdog_grace_seconds,
            # SIGTERM to the head: vllm serve drains for up to drain.timeoutSeconds, then tears down.
            "drain_stop_seconds": plan.config.drain.timeout_seconds + DRAIN_STOP_MARGIN_SECONDS,
            "serve_args": [*plan.serve_args, "--distributed-executor-backend", "ray"],
        }
        budget = settings.wait_timeout_seconds + plan.config.startup_timeout_seconds

        def probes(role: str) -> Probes:
            checks = (_exec(*_script("probe.sh"), role, check) for check in ("startup", "readiness", "liveness"))
            return make_probes(*checks, budget)

        return group_entrypoints("ray", context, probes("head"), probes("worker"), budget, uses_ray=True)


class NativeLauncher:
    kind: ClassVar[str] = "launcher"
    name: ClassVar[str] = "native"
    uniform_pods: ClassVar[bool] = True

    class Settings(PluginSettings):
        master_port: int = Field(29501, ge=1, le=65535, description="vLLM's --master-port on the head.")
        wait_timeout_seconds: int = Field(600, gt=0, description="Bound on workers waiting for the head's address.")

    def entrypoints(self, settings: "NativeLauncher.Settings", plan: ModelPlan) -> Entrypoints:
        if not plan.gpus.multi_node:
            return single_pod_entrypoints(plan)
        context = {
            "model_name": plan.name,
            "nnodes": plan.gpus.pods,
            "master_port": settings.master_port,
            "wait_timeout_seconds": settings.wait_timeout_seconds,
            "serve_args": list(plan.serve_args),
        }
        budget = settings.wait_timeout_seconds + plan.config.startup_timeout_seconds
        # Headless workers serve no HTTP; they are alive while the head's rendezvous port answers.
        head_reachable = _exec(*_script("probe.sh"))
        return group_entrypoints(
            "native",
            context,
            make_probes(HTTP_HEALTH, HTTP_HEALTH, HTTP_HEALTH, budget),
            make_probes(head_reachable, head_reachable, head_reachable, budget),
            budget,
        )
