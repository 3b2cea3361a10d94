"""Which field changes force pulumi-kubernetes to replace an object.

Transcribed from pulumi-kubernetes `provider/diff.go` and `forceNewProperties`
(see the project's pulumi.md). A field "forces replacement" when it is one of these paths or
lies below one: `spec.selector.matchLabels.app` replaces a StatefulSet because
`spec.selector` does.
"""

from __future__ import annotations

from typing import Mapping, Sequence

Path = tuple[str | int, ...]

# Every kind: the API server can't rename or move an object, so Pulumi
# deletes it and creates a new one.
ALL_KINDS: tuple[Path, ...] = (("metadata", "name"), ("metadata", "namespace"))

REPLACE_ON: Mapping[str, tuple[Path, ...]] = {
    "StatefulSet": (
        ("spec", "podManagementPolicy"),
        ("spec", "revisionHistoryLimit"),
        ("spec", "selector"),
        ("spec", "serviceName"),
        ("spec", "volumeClaimTemplates"),
    ),
    "Deployment": (("spec", "selector"),),
    "DaemonSet": (("spec", "selector"),),
    # A size change (spec.resources.requests.storage) is an in-place expansion.
    "PersistentVolumeClaim": (
        ("spec", "accessModes"),
        ("spec", "selector"),
        ("spec", "storageClassName"),
        ("spec", "volumeName"),
    ),
    "Service": (("spec", "clusterIP"),),
    "Job": (
        ("spec", "template"),
        ("spec", "completions"),
        ("spec", "parallelism"),
        ("spec", "selector"),
    ),
    # The provider treats ConfigMaps and Secrets as immutable unless it is
    # configured with enableConfigMapMutable / enableSecretMutable; this
    # program's default provider sets neither, so a data change is a replace.
    "ConfigMap": (("binaryData",), ("data",), ("immutable",)),
    "Secret": (("data",), ("stringData",), ("type",), ("immutable",)),
}


def forces_replacement(kind: str, path: Sequence[str | int]) -> bool:
    """True when changing `path` of a `kind` object makes Pulumi delete and recreate it."""
    path = tuple(path)
    return any(path[: len(rule)] == rule for rule in ALL_KINDS + REPLACE_ON.get(kind, ()))
