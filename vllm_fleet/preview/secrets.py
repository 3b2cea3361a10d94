"""A rotated secret config value, which both renders can only show as `[secret]`.

The offline render never decrypts a `secure:` value, so every Secret built
from one, and the API-key fingerprint annotation on the pods, read `[secret]`
on both sides. The stack file's ciphertext does change on a rotation
(`pulumi config set --secret` writes a new one), so each side records a
fingerprint of it; where the fingerprints differ, the diff adds the changes
the renders hide, never the values. A ciphertext re-encrypted without a new
value also counts as a change: the offline diff can't tell the difference.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

import yaml

from ..constants import API_KEY_SECRET
from ..errors import CONFIG_NAMESPACE
from ..render import REDACTED
from ..secret_fingerprint import ANNOTATION_API_KEY_FINGERPRINT
from .diff import FieldChange, Resource, Snapshot, format_path
from .findings import Finding, Hazard, Severity
from .rules import forces_replacement

API_KEY_CONFIG = f"{CONFIG_NAMESPACE}:apiKey"
CHANGED = "[secret, changed]"
#: Where a pod template carries the API key's fingerprint, under the template's own path.
FINGERPRINT_ANNOTATION_PATH = ("metadata", "annotations", ANNOTATION_API_KEY_FINGERPRINT)


def ciphertext_fingerprints(stack_file: Path, project: str) -> dict[str, str]:
    """`{config key: short hash of its ciphertext}` for every `secure:` value of a stack file."""
    try:
        document = yaml.safe_load(stack_file.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    config = document.get("config") if isinstance(document, dict) else None
    fingerprints = {}
    for key, value in (config or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            name = key if ":" in key else f"{project}:{key}"
            fingerprints[name] = hashlib.sha256(str(value["secure"]).encode()).hexdigest()[:12]
    return fingerprints


def rotated_keys(base: Optional[Snapshot], head: Optional[Snapshot]) -> list[str]:
    """Secret config keys set on both sides whose ciphertext differs (an added or removed key changes the render)."""
    if base is None or head is None:
        return []
    return sorted(key for key in base.secrets.keys() & head.secrets.keys() if base.secrets[key] != head.secrets[key])


def _redacted_paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _redacted_paths(item, path + (key,))
    elif value == REDACTED:
        yield path


def _secret_holds(name: str, rotated: list[str]) -> bool:
    """Which Secrets carry a rotated key: the API key has its own Secret; other secret config (hfToken) lands elsewhere."""
    if name == API_KEY_SECRET:
        return API_KEY_CONFIG in rotated
    return any(key != API_KEY_CONFIG for key in rotated)


def _fingerprint_changes(resource: Resource) -> list[FieldChange]:
    """Each pod template that carries the API key's fingerprint (a StatefulSet head, a LeaderWorkerSet leader) rolls."""
    changes = []
    for template_path, template in resource.pod_templates:
        annotations = template.get("metadata", {}).get("annotations", {})
        if ANNOTATION_API_KEY_FINGERPRINT in annotations:
            path = format_path(template_path + FINGERPRINT_ANNOTATION_PATH)
            changes.append(FieldChange(path, annotations[ANNOTATION_API_KEY_FINGERPRINT], CHANGED))
    return changes


def hidden_changes(base: Optional[Snapshot], head: Optional[Snapshot]) -> dict[str, tuple[FieldChange, ...]]:
    """Per URN, the changes a rotation makes that both renders redact."""
    rotated = rotated_keys(base, head)
    if not rotated:
        return {}
    hidden: dict[str, tuple[FieldChange, ...]] = {}
    for urn, resource in head.resources.items():
        if urn not in base.resources or not resource.manifest:
            continue
        changes = []
        if resource.kind == "Secret" and _secret_holds(resource.manifest["metadata"]["name"], rotated):
            for field in ("data", "stringData"):
                for path in _redacted_paths(resource.manifest.get(field), (field,)):
                    changes.append(FieldChange(format_path(path), REDACTED, CHANGED, forces_replacement("Secret", path)))
        if API_KEY_CONFIG in rotated:
            changes += _fingerprint_changes(resource)
        if changes:
            hidden[urn] = tuple(changes)
    return hidden


def secret_findings(base: Optional[Snapshot], head: Optional[Snapshot]) -> list[Finding]:
    """One line per rotated key: that it changed, never what to."""
    found = []
    for key in rotated_keys(base, head):
        effect = (
            f"Secret {API_KEY_SECRET} is replaced and the pods that read the key roll (their "
            f"{ANNOTATION_API_KEY_FINGERPRINT} annotation changes)"
            if key == API_KEY_CONFIG
            else "the Secrets made from it are replaced; a pod reads the new value when it next starts"
        )
        found.append(Finding(Severity.NOTE, Hazard.SECRET_CHANGED, key, (
            f"the secret changed (its ciphertext in the stack file differs; the value is not shown): {effect}"
        )))
    return found


def with_fingerprints(snapshot: Snapshot, fingerprints: Mapping[str, str]) -> Snapshot:
    return replace(snapshot, secrets=dict(fingerprints))
