"""What a rule says about a step: how bad it is, what kind of harm, and in words."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    DANGER = "danger"
    NOTE = "note"


class Hazard(str, Enum):
    DATA_LOSS = "data loss"
    PROTECTION_REMOVED = "protection removed"
    ORPHANED = "claim orphaned"
    REJECTED = "pulumi up fails"
    DOWNTIME = "downtime"
    GROUP_RESTART = "group restart"
    ROLLING_RESTART = "rolling restart"
    ROLLOUT = "group rollout"
    WEIGHTS_CHANGE = "weights change"
    REPLACED = "replaced"
    SECRET_CHANGED = "secret changed"
    REMOVED = "model removed"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    hazard: Hazard
    subject: str
    message: str
    #: Pulumi refuses the step (`protect` in the stack's state): `pulumi up` fails rather than loses data.
    blocked: bool = False

    @property
    def is_danger(self) -> bool:
        return self.severity is Severity.DANGER
