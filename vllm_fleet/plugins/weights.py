"""Where pods find the weights: every storage and cache plugin mounts them the same way."""

from __future__ import annotations

from typing import Optional

from ..constants import WEIGHTS_MOUNT, WEIGHTS_VOLUME
from .types import PodAdditions


def weights_path(path: Optional[str], model: str) -> str:
    """The model folder under the weights mount: `path` inside the volume, or the model id."""
    return f"{WEIGHTS_MOUNT}/{(path if path is not None else model).strip('/')}".rstrip("/")


def claim_mount(claim_name: str) -> PodAdditions:
    """The claim as a read-only volume at /models: serving never writes weights."""
    return PodAdditions(
        volumes=({"name": WEIGHTS_VOLUME, "persistentVolumeClaim": {"claimName": claim_name, "readOnly": True}},),
        volume_mounts=({"name": WEIGHTS_VOLUME, "mountPath": WEIGHTS_MOUNT, "readOnly": True},),
    )
