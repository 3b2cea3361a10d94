"""Launchers: how a model's group of pods becomes one vLLM engine.

When TP×PP fits one pod every launcher runs plain `vllm serve` (no Ray, no
workers). Otherwise `ray` forms a Ray cluster and waits for exactly the planned
GPUs before serving; `native` uses vLLM's own --nnodes/--node-rank launcher.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ..constants import ENTRYPOINT_DIR, RAY_PORTS, STATE_DIR
from ..plan import ModelPlan, make_probes
from ..plugins.types import Entrypoints
from ..plugins.protocol import PluginSettings
from ..templates import render


def _http_health(port: int) -> dict:
    return {"httpGet": {"path": "/health", "port": "http"}}


def _exec(*argv: str) -> dict:
    return {"exec": {"command": list(argv)}}


def _script(name: str) -> tuple[str, ...]:
    return ("/bin/bash", f"{ENTRYPOINT_DIR}/{name}")


def single_pod_entrypoints(plan: ModelPlan) -> Entrypoints:
    """TP×PP fits one pod: vLLM's default multiprocessing executor, nothing to coordinate."""
    health = _http_health(plan.api_port)
    script = render("single.sh.j2", model_name=plan.name, serve_args=list(plan.serve_args))
    budget = plan.config.startup_timeout_seconds
    return Entrypoints(
        scripts={"head.sh": script},
        head_command=_script("head.sh"),
        head_probes=make_probes(health, health, health, budget),
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
            "serve_args": [*plan.serve_args, "--distributed-executor-backend", "ray"],
            "state_dir": STATE_DIR,
        }
        scripts = {
            "head.sh": render("ray/head.sh.j2", **context),
            "worker.sh": render("ray/worker.sh.j2", **context),
            "probe.sh": render("ray/probe.sh.j2", **context),
        }
        budget = settings.wait_timeout_seconds + plan.config.startup_timeout_seconds

        def probe(role: str, check: str) -> dict:
            return _exec(*_script("probe.sh"), role, check)

        return Entrypoints(
            scripts=scripts,
            head_command=_script("head.sh"),
            worker_command=_script("worker.sh"),
            head_probes=make_probes(
                probe("head", "startup"), probe("head", "readiness"), probe("head", "liveness"), budget
            ),
            worker_probes=make_probes(
                probe("worker", "startup"), probe("worker", "readiness"), probe("worker", "liveness"), budget
            ),
            uses_ray=True,
            startup_budget_seconds=budget,
        )


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
        health = _http_health(plan.api_port)
        budget = settings.wait_timeout_seconds + plan.config.startup_timeout_seconds
        # Headless workers serve no HTTP; they are alive while the head's rendezvous port answers.
        head_reachable = _exec(*_script("probe.sh"))
        return Entrypoints(
            scripts={
                "head.sh": render("native/head.sh.j2", **context),
                "worker.sh": render("native/worker.sh.j2", **context),
                "probe.sh": render("native/probe.sh.j2", **context),
            },
            head_command=_script("head.sh"),
            worker_command=_script("worker.sh"),
            head_probes=make_probes(health, health, health, budget),
            worker_probes=make_probes(head_reachable, head_reachable, head_reachable, budget),
            startup_budget_seconds=budget,
        )
