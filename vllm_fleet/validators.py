"""What the Kubernetes API server validates, checked before anything is submitted.

A value the API server would reject fails `pulumi up` halfway, after other
objects were created. These rules (apimachinery's `validation` package) run in
the config models instead, so the error names the key path and nothing is
registered. Each check returns a problem text, or None when the value is valid;
the `Annotated` types at the end wrap them for pydantic models, core and plugins alike.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Callable, Optional

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from .quantity import parse_quantity

INT32_MAX = 2**31 - 1
# Quantities are int64 in base units (milli-units for CPU) on the server.
QUANTITY_MAX = Decimal(2**63 - 1) / 1000
DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253
# Every object is stored in etcd, whose default request limit is 1.5 MiB; the
# API server refuses ConfigMap and Secret data over 1 MiB.
OBJECT_DATA_MAX_BYTES = 1024 * 1024

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def dns_subdomain_problem(value: str) -> Optional[str]:
    """Names of most objects (claims, Secrets, StorageClasses): RFC 1123 subdomain, at most 253."""
    if len(value) > DNS_SUBDOMAIN_MAX or not _DNS_SUBDOMAIN.match(value):
        return (
            "must be a DNS subdomain name: lowercase letters, digits, '-' and '.', starting and ending "
            f"with a letter or digit, at most {DNS_SUBDOMAIN_MAX} characters; got {value!r}"
        )
    return None


def qualified_name_problem(value: str) -> Optional[str]:
    """Label and annotation keys, taint keys: `[prefix/]name`, prefix a DNS subdomain, name at most 63."""
    prefix, _, name = value.rpartition("/")
    if "/" in value and (not prefix or dns_subdomain_problem(prefix)):
        return f"the prefix of {value!r} must be a DNS subdomain (like example.com)"
    if len(name) > DNS_LABEL_MAX or not _QUALIFIED_NAME.match(name):
        return (
            f"must be a qualified name ([prefix/]name; name: at most {DNS_LABEL_MAX} letters, digits, "
            f"'-', '_' or '.', starting and ending with a letter or digit); got {value!r}"
        )
    return None


def label_value_problem(value: str) -> Optional[str]:
    """Label values: empty, or at most 63 letters, digits, '-', '_', '.', alphanumeric at both ends."""
    if value and (len(value) > DNS_LABEL_MAX or not _QUALIFIED_NAME.match(value)):
        return (
            f"must be a label value: empty or at most {DNS_LABEL_MAX} letters, digits, '-', '_' or '.', "
            f"starting and ending with a letter or digit; got {value!r}"
        )
    return None


def labels_problems(labels: dict[str, Any]) -> list[str]:
    """Every bad key and value of a label map, each naming the key."""
    problems = []
    for key, value in labels.items():
        problem = qualified_name_problem(key)
        if problem:
            problems.append(f"label key {problem}")
        elif not isinstance(value, str):
            problems.append(f"label {key!r}: a label value is a string, got {value!r} (quote it)")
        elif (problem := label_value_problem(value)) is not None:
            problems.append(f"label {key!r}: value {problem}")
    return problems


def quantity_problem(value: Any, positive: bool = False) -> Optional[str]:
    """A Kubernetes quantity ('500m', '64Gi'), within the server's int64 range; `positive`: more than 0."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return f"must be a Kubernetes quantity such as '8', '500m', '64Gi' or '1Ti', got {value!r}"
    try:
        amount = parse_quantity(value)
    except ValueError as error:
        return str(error)
    if amount > QUANTITY_MAX:
        return f"{value!r} is beyond the largest quantity Kubernetes stores"
    if positive and amount <= 0:
        return f"must be more than 0, got {value!r}"
    return None


# ---------------------------------------------------------- pydantic types


def _checked(kind: str, check: Callable[[Any], Optional[str]]) -> AfterValidator:
    def validate(value: Any) -> Any:
        problem = check(value)
        if problem:
            raise PydanticCustomError(kind, problem)
        return value

    return AfterValidator(validate)


def _quantity(positive: bool) -> BeforeValidator:
    def validate(value: Any) -> str:
        problem = quantity_problem(value, positive)
        if problem:
            raise PydanticCustomError("quantity", problem)
        return str(value)

    return BeforeValidator(validate)


def _labels(value: dict[str, Any]) -> dict[str, Any]:
    problems = labels_problems(value)
    if problems:
        raise PydanticCustomError("labels", "; ".join(problems))
    return value


DnsSubdomain = Annotated[str, _checked("dns_subdomain", dns_subdomain_problem)]
QualifiedName = Annotated[str, _checked("qualified_name", qualified_name_problem)]
LabelValue = Annotated[str, _checked("label_value", label_value_problem)]
Labels = Annotated[dict[str, str], AfterValidator(_labels)]
Quantity = Annotated[str, _quantity(positive=False)]
PositiveQuantity = Annotated[str, _quantity(positive=True)]
Int32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
