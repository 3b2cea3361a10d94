"""A fingerprint of a secret that changes when the secret does and reveals nothing usable.

Pods read the API key from a Secret through `secretKeyRef`, which Kubernetes
resolves only when a container starts: rotating the key updates the Secret
but leaves every running pod on the old key. A pod-template annotation that
changes with the key makes the StatefulSet roll its pods.

Why an annotation with a slow, salted hash rather than a Secret whose name
carries a content hash: the name would be as visible as the annotation, and
renaming the Secret would change its URN (a delete plus a create on every
rotation, with a window where the old pods' Secret is gone). The value is
PBKDF2-HMAC-SHA256 with a per-namespace salt and many iterations, cut to 16
hex digits: not reversible, and guessing a weak key from it costs a
PBKDF2 run per guess. It is deliberately *not* a Pulumi secret: Pulumi marks
secrecy per top-level property, so a secret annotation would turn the whole
StatefulSet `spec` into `[secret]` and hide every other change from
`pulumi preview` and the offline diff.

The offline render can't decrypt the key (it sees the placeholder
`[secret]`); the fingerprint of a placeholder is the placeholder, and the
offline diff learns of a rotation from the stack file's ciphertext instead
(vllm_fleet/preview/secrets.py).
"""

from __future__ import annotations

import hashlib

from .stack_config import SecretValue

#: Pod-template annotation whose change rolls the pods that read the API key.
ANNOTATION_API_KEY_FINGERPRINT = "vllm-fleet.io/api-key-fingerprint"
PBKDF2_ITERATIONS = 200_000
#: What the offline render hands the program for a value only the Pulumi CLI can decrypt.
UNDECRYPTED = "[secret]"
FINGERPRINT_HEX_DIGITS = 16


def secret_fingerprint(secret: SecretValue, salt: str) -> str:
    """A short, slow, salted digest of `secret`: changes with it, can't be turned back into it."""
    text = secret.value if isinstance(secret.value, str) else repr(secret.value)
    if text == UNDECRYPTED:
        return UNDECRYPTED
    digest = hashlib.pbkdf2_hmac("sha256", text.encode(), f"vllm-fleet/{salt}".encode(), PBKDF2_ITERATIONS)
    return digest.hex()[:FINGERPRINT_HEX_DIGITS]
