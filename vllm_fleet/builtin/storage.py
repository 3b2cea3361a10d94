"""Storage plugins: where a model's weights live, mounted read-only at /models.

A claim the stack creates starts empty. Whatever fills it (a fetch Job, or
someone by hand for `new-pvc`) writes the completion marker after the last
file, and every vLLM pod waits for it in an init container (bounded, logged),
so no pod ever serves a missing or half-written model.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, field_validator

from ..constants import WEIGHTS_MARKER, WEIGHTS_MOUNT, WEIGHTS_VOLUME
from ..sdk import (
    DnsSubdomain,
    ModelPlan,
    MountSource,
    ObjectSpec,
    PlanError,
    PluginSettings,
    PodAdditions,
    PositiveQuantity,
    WeightsPlan,
    claim_mount,
    weights_path,
)
from ..sdk import render_template as render

WAIT_POLL_SECONDS = 10
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def check_shared_access(access_mode: str, plan: ModelPlan, field: str = "accessMode") -> None:
    if access_mode == "ReadWriteOnce" and plan.gpus.multi_node:
        raise PlanError(
            ("storage", field),
            f"ReadWriteOnce can't be mounted by the {plan.gpus.pods} pods of this group on different "
            "nodes; use ReadOnlyMany or ReadWriteMany",
        )


def _folder(value: Optional[str]) -> Optional[str]:
    """A folder inside the claim: no '.'/'..' segment can leave it, no control character can break a log line."""
    if value is not None:
        segments = [s for s in value.split("/") if s]
        if len(value) > 255 or any(s in (".", "..") for s in segments) or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError(
                f"path {value!r} must be a folder inside the claim: no '.' or '..' segments "
                "or control characters, at most 255 characters"
            )
    return value


class ExistingClaim:
    kind: ClassVar[str] = "storage"
    name: ClassVar[str] = "existing-pvc"

    class Settings(PluginSettings):
        claim_name: DnsSubdomain = Field(description="The PersistentVolumeClaim that holds the weights.")
        path: Optional[str] = Field(None, description="Folder of the weights inside the claim; defaults to the model id.")
        access_mode: Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"] = Field(
            "ReadOnlyMany", description="The claim's access mode, checked against the group's pod count."
        )

        @field_validator("path")
        @classmethod
        def _path_in_claim(cls, value: Optional[str]) -> Optional[str]:
            return _folder(value)

    def weights(self, settings: "ExistingClaim.Settings", plan: ModelPlan) -> WeightsPlan:
        check_shared_access(settings.access_mode, plan)
        return WeightsPlan(
            model_path=weights_path(settings.path, plan.config.model),
            pod=claim_mount(settings.claim_name),
            description=f"existing claim {settings.claim_name}",
            mount=MountSource(uri=f"pvc://{settings.claim_name}"),
        )


class ClaimSettings(PluginSettings):
    """A claim the stack creates: every source that fills a new claim shares these keys."""

    size: PositiveQuantity = Field(description="Claim size, e.g. 500Gi (growing it later is an in-place update).")
    storage_class: Optional[DnsSubdomain] = Field(None, description="StorageClass; omitted = the cluster default.")
    access_mode: Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"] = Field(
        "ReadWriteMany", description="Access mode; several nodes need ReadWriteMany or ReadOnlyMany."
    )
    claim_name: Optional[DnsSubdomain] = Field(None, description="Claim name; defaults to <model>-weights.")
    path: Optional[str] = Field(None, description="Folder of the weights inside the claim; defaults to the model id.")
    protect: bool = Field(
        True, description="Block deletion and replacement by Pulumi and keep the claim on delete. false opts out."
    )

    @field_validator("path")
    @classmethod
    def _path_in_claim(cls, value: Optional[str]) -> Optional[str]:
        return _folder(value)


class WaitSettings(PluginSettings):
    wait_timeout_seconds: int = Field(
        14400, gt=0, description="How long each vLLM pod waits for the completion marker (then it restarts)."
    )


class NewClaim:
    kind: ClassVar[str] = "storage"
    name: ClassVar[str] = "new-pvc"

    class Settings(ClaimSettings, WaitSettings):
        wait_for_marker: bool = Field(
            True,
            description="Pods wait for <path>/.vllm-fleet-complete, written by whoever fills the claim; "
            "false for a claim that is filled before the pods start.",
        )

    def weights(self, settings: "NewClaim.Settings", plan: ModelPlan) -> WeightsPlan:
        claim = new_claim(settings, plan)
        model_path = weights_path(settings.path, plan.config.model)
        pod = claim_mount(claim.name)
        check = None
        if settings.wait_for_marker:
            filled_by = f"whoever fills claim {claim.name} (new-pvc: write the marker after the last file)"
            check = pod.merge(PodAdditions(init_containers=(
                wait_for_weights(plan, model_path, settings.wait_timeout_seconds, "", filled_by),
            )))
        return WeightsPlan(
            model_path=model_path,
            objects=(claim,),
            pod=check or pod,
            description=f"new claim {claim.name} ({settings.size})",
            mount=MountSource(uri=f"pvc://{claim.name}"),
            ready_timeout_seconds=settings.wait_timeout_seconds if check else 0,
            fill_check=check,
        )


def wait_for_weights(plan: ModelPlan, model_path: str, timeout_seconds: int, source: str, filled_by: str) -> dict[str, Any]:
    """Init container: the vLLM image (already on the node) polls for the marker naming `source`.

    An empty `source` accepts any marker (a claim filled by hand). Bounded and logged.
    """
    script = render(
        "fetch/wait.sh.j2",
        model_name=plan.name,
        marker_path=f"{model_path}/{WEIGHTS_MARKER}",
        expected_source=source,
        filled_by=filled_by,
        timeout_seconds=timeout_seconds,
        poll_seconds=WAIT_POLL_SECONDS,
    )
    return {
        "name": "wait-for-weights",
        "image": plan.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/bash", "-c", script],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        "volumeMounts": [{"name": WEIGHTS_VOLUME, "mountPath": WEIGHTS_MOUNT, "readOnly": True}],
        # It only reads the marker and sleeps.
        "securityContext": {**RESTRICTED, "readOnlyRootFilesystem": True},
    }


def new_claim(settings: ClaimSettings, plan: ModelPlan) -> ObjectSpec:
    """A claim for weights, protected and retained unless `protect: false`: re-filling one costs hours."""
    check_shared_access(settings.access_mode, plan)
    spec = {
        "accessModes": [settings.access_mode],
        "resources": {"requests": {"storage": settings.size}},
    }
    if settings.storage_class:
        spec["storageClassName"] = settings.storage_class
    return ObjectSpec(
        api_version="v1",
        kind="PersistentVolumeClaim",
        name=settings.claim_name or f"{plan.name}-weights",
        body={"spec": spec},
        labels=plan.labels("weights"),
        protect=settings.protect,
        retain_on_delete=settings.protect,
    )
