"""Names and labels of a model's objects: one place, so every object and script agrees."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from .constants import (
    LABEL_COMPONENT,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_PART_OF,
    LABEL_VERSION,
)


@dataclass(frozen=True)
class Names:
    model: str
    namespace: str

    @property
    def head(self) -> str:
        return f"{self.model}-head"

    @property
    def worker(self) -> str:
        return f"{self.model}-worker"

    @property
    def api_service(self) -> str:
        return self.model

    @property
    def entrypoints(self) -> str:
        return f"{self.model}-entrypoints"

    @property
    def group(self) -> str:
        """What covers the whole group: its headless Service (stable member DNS), NetworkPolicy and PDB."""
        return f"{self.model}-group"

    @property
    def fetch(self) -> str:
        """The Job (and its script and token) that fills a new claim with the weights."""
        return f"{self.model}-fetch"

    @property
    def dataset(self) -> str:
        """Fluid Dataset and runtime (one name binds them); also the name of Fluid's claim.

        Not `<model>-weights`: that is the raw claim the Dataset may read from.
        """
        return f"{self.model}-cache"

    @property
    def attachment(self) -> str:
        return f"{self.model}-net"

    @property
    def group_domain(self) -> str:
        """The group Service's DNS domain: StatefulSet pod `<sts>-<i>` is `<sts>-<i>.<group_domain>`."""
        return f"{self.group}.{self.namespace}.svc.cluster.local"

    @property
    def head_address(self) -> str:
        return f"{self.head}-0.{self.group_domain}"

    def api_url(self, port: int) -> str:
        return f"http://{self.api_service}.{self.namespace}.svc.cluster.local:{port}/v1"


def _label_value(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:63]
    return cleaned.strip("-_.") or "unknown"


def image_tag(image: str) -> str:
    name = image.split("@", 1)[0]
    return name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"


def selector_labels(model: str, component: Optional[str] = None) -> dict[str, str]:
    labels = {LABEL_NAME: "vllm", LABEL_INSTANCE: model}
    if component:
        labels[LABEL_COMPONENT] = component
    return labels


def network_peer(namespace: Optional[str], pod_labels: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """A NetworkPolicy peer: the namespace by its name label, and/or pods by their labels (None leaves either out)."""
    peer: dict[str, Any] = {}
    if namespace is not None:
        peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    if pod_labels is not None:
        peer["podSelector"] = {"matchLabels": dict(pod_labels)}
    return peer


def common_labels(model: str, image: str, component: Optional[str] = None) -> dict[str, str]:
    return {
        **selector_labels(model, component),
        LABEL_PART_OF: "vllm-fleet",
        LABEL_MANAGED_BY: "pulumi",
        LABEL_VERSION: _label_value(image_tag(image)),
    }
