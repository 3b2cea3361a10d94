"""Storage plugins: where a model's weights live, mounted read-only at /models."""

from __future__ import annotations

from typing import ClassVar, Literal, Optional

from pydantic import Field

from ..plan import ModelPlan, PlanError, claim_mount, weights_path
from ..plugins.types import MountSource, ObjectSpec, WeightsPlan
from ..plugins.protocol import PluginSettings
from ..validators import DnsSubdomain, PositiveQuantity


def check_shared_access(access_mode: str, plan: ModelPlan, field: str = "accessMode") -> None:
    if access_mode == "ReadWriteOnce" and plan.gpus.multi_node:
        raise PlanError(
            ("storage", field),
            f"ReadWriteOnce can't be mounted by the {plan.gpus.pods} pods of this group on different "
            "nodes; use ReadOnlyMany or ReadWriteMany",
        )


class ExistingClaim:
    kind: ClassVar[str] = "storage"
    name: ClassVar[str] = "existing-pvc"

    class Settings(PluginSettings):
        claim_name: DnsSubdomain = Field(description="The PersistentVolumeClaim that holds the weights.")
        path: Optional[str] = Field(None, description="Folder of the weights inside the claim; defaults to the model id.")
        access_mode: Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"] = Field(
            "ReadOnlyMany", description="The claim's access mode, checked against the group's pod count."
        )

    def weights(self, settings: "ExistingClaim.Settings", plan: ModelPlan) -> WeightsPlan:
        check_shared_access(settings.access_mode, plan)
        return WeightsPlan(
            model_path=weights_path(settings.path, plan.config.model),
            pod=claim_mount(settings.claim_name),
            description=f"existing claim {settings.claim_name}",
            mount=MountSource(uri=f"pvc://{settings.claim_name}"),
        )


class NewClaim:
    kind: ClassVar[str] = "storage"
    name: ClassVar[str] = "new-pvc"

    class Settings(PluginSettings):
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

    def weights(self, settings: "NewClaim.Settings", plan: ModelPlan) -> WeightsPlan:
        claim = new_claim(settings, plan)
        return WeightsPlan(
            model_path=weights_path(settings.path, plan.config.model),
            objects=(claim,),
            pod=claim_mount(claim.name),
            description=f"new claim {claim.name} ({settings.size})",
            mount=MountSource(uri=f"pvc://{claim.name}"),
        )


def new_claim(settings: NewClaim.Settings, plan: ModelPlan) -> ObjectSpec:
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
