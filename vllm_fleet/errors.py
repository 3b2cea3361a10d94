"""Errors that carry the stack-config key path of what went wrong.

Every user-facing problem is collected as an `Issue` (key path + message) so a
stack with five mistakes reports five lines at once instead of one per run.
`ConfigError` subclasses `pulumi.RunError` so `pulumi up` prints the message
without a Python traceback.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import pulumi

CONFIG_NAMESPACE = "vllm-fleet"


@dataclass(frozen=True)
class Issue:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def key_path(parts: Sequence[str | int], namespace: str = CONFIG_NAMESPACE) -> str:
    """Formats ('models', 0, 'parallelism') as 'vllm-fleet:models[0].parallelism'."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not text:
            text = f"{namespace}:{part}" if namespace else str(part)
        else:
            text += f".{part}"
    return text or f"{namespace}:"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class ConfigError(pulumi.RunError):
    """The stack config is invalid; nothing was (or may be) registered."""

    def __init__(self, issues: Iterable[Issue]):
        self.issues = sorted(set(issues), key=lambda issue: (issue.path, issue.message))
        count = len(self.issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"invalid stack config ({count} problem{'s' if count != 1 else ''}):\n{lines}")


class PluginValidationError(Exception):
    """A plugin does not implement the protocol of its kind (raised at discovery)."""


class PlanError(Exception):
    """A setting that validates on its own but can't work with the rest of the plan.

    `field` is the key path relative to the model (e.g. ("gpusPerPod",)), or to
    `root` when the setting came from elsewhere (a stack default: ("defaults",)).
    """

    def __init__(self, field: tuple, message: str, root: Optional[tuple] = None):
        super().__init__(message)
        self.field = field
        self.message = message
        self.root = root


class ModelPlanError(PlanError):
    """An add-on's error about the model's own keys (its workload, replicas), not the add-on's settings.

    `field` is relative to the model (`("workload",)` reports `models[2].workload`):
    when an add-on can't work with how the model runs, the fix is in the model.
    """
