"""GPU memory per accelerator: a table of common GPUs, MIG profiles, or an explicit quantity.

Memory is what the device reports as total (`nvidia-smi --query-gpu=memory.total`,
`rocm-smi --showmeminfo vram`), which is what vLLM multiplies by
`gpu-memory-utilization` (it reads `torch.cuda.mem_get_info()`); where that
figure isn't well known the vendor's datasheet capacity is used and the
`source` says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from decimal import Decimal
from typing import Optional

from ..errors import did_you_mean
from ..quantity import parse_quantity
from .model_info import CapacityInputError

MIB = 2**20
GIB = 2**30


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_bytes: int
    source: str
    aliases: tuple[str, ...] = ()


#: Common data-centre GPUs; `aliases` include the GPU feature discovery label
#: (`nvidia.com/gpu.product`) so a stack's node selector names its GPU.
GPUS: tuple[Gpu, ...] = (
    Gpu("H100-80GB-SXM", 81559 * MIB, "nvidia-smi memory.total 81559 MiB",
        ("H100", "H100-SXM", "H100-80GB", "H100-80GB-HBM3", "H100-SXM5-80GB")),
    Gpu("H100-80GB-PCIe", 81559 * MIB, "nvidia-smi memory.total 81559 MiB", ("H100-PCIE", "H100-PCIE-80GB")),
    Gpu("H100-NVL-94GB", 95830 * MIB, "nvidia-smi memory.total 95830 MiB", ("H100-NVL",)),
    Gpu("H200-141GB", 143771 * MIB, "nvidia-smi memory.total 143771 MiB", ("H200", "H200-SXM", "H200-141GB-HBM3E")),
    Gpu("A100-80GB", 81920 * MIB, "nvidia-smi memory.total 81920 MiB", ("A100-SXM4-80GB", "A100-PCIE-80GB", "A100-80GB-PCIE")),
    Gpu("A100-40GB", 40960 * MIB, "nvidia-smi memory.total 40960 MiB", ("A100", "A100-SXM4-40GB", "A100-PCIE-40GB")),
    Gpu("L40S", 46068 * MIB, "nvidia-smi memory.total 46068 MiB", ("L40S-48GB",)),
    Gpu("L4", 23034 * MIB, "nvidia-smi memory.total 23034 MiB", ("L4-24GB",)),
    Gpu("A10G", 23028 * MIB, "nvidia-smi memory.total 23028 MiB", ("A10G-24GB",)),
    Gpu("B200", 180 * 10**9, "datasheet: 180 GB HBM3e per GPU (HGX B200)", ("B200-180GB",)),
    Gpu("MI300X", 192 * GIB, "datasheet: 192 GB HBM3 (rocm-smi 196592 MiB)", ("AMD-INSTINCT-MI300X",)),
    Gpu("MI325X", 256 * GIB, "datasheet: 256 GB HBM3e", ("AMD-INSTINCT-MI325X",)),
)

#: The GPU feature discovery label (`nvidia.com/gpu.product`, NVML's device name with spaces as '-') of each
#: NVIDIA type, so a model's `accelerator:` can pin its nodes. A type with two board variants gets the SXM one;
#: write the label itself (`accelerator: NVIDIA-A100-80GB-PCIe`) to pin the other.
PRODUCT_LABELS: dict[str, str] = {
    "H100-80GB-SXM": "NVIDIA-H100-80GB-HBM3",
    "H100-80GB-PCIe": "NVIDIA-H100-PCIe",
    "H100-NVL-94GB": "NVIDIA-H100-NVL",
    "H200-141GB": "NVIDIA-H200",
    "A100-80GB": "NVIDIA-A100-SXM4-80GB",
    "A100-40GB": "NVIDIA-A100-SXM4-40GB",
    "L40S": "NVIDIA-L40S",
    "L4": "NVIDIA-L4",
    "A10G": "NVIDIA-A10G",
    "B200": "NVIDIA-B200",
}

#: `nvidia.com/mig-<compute>g.<memory>gb` (and the `.me` media-extension variant): the profile's nominal memory.
MIG_RESOURCE = re.compile(r"^nvidia\.com/mig-(?P<compute>[1-7])g\.(?P<memory>[0-9]+)gb(\.me)?$")


def accelerator_key(name: str) -> str:
    """'NVIDIA-H100-80GB-HBM3', 'nvidia h100 80gb hbm3' and 'H100-80GB-HBM3' are one key."""
    key = re.sub(r"[\s_]+", "-", name.strip().upper())
    return key[len("NVIDIA-"):] if key.startswith("NVIDIA-") else key


@lru_cache(maxsize=1)
def _index() -> dict[str, Gpu]:
    return {accelerator_key(alias): gpu for gpu in GPUS for alias in (gpu.name, *gpu.aliases)}


def canonical_accelerator(name: str) -> str:
    """One identity per GPU type: the table's name for a known alias ('H100', 'NVIDIA-H100-80GB-HBM3').

    A name the table doesn't know is its normalised self.
    """
    gpu = _index().get(accelerator_key(name))
    return gpu.name if gpu else accelerator_key(name)


def gpu_by_name(name: str) -> Gpu:
    """The table's GPU for a type name or a GPU feature discovery product label."""
    index = _index()
    gpu = index.get(accelerator_key(name))
    if gpu is None:
        names = ", ".join(g.name for g in GPUS)
        raise CapacityInputError(
            f"unknown accelerator type {name!r}{did_you_mean(accelerator_key(name), index)}; known: {names}; "
            "or set gpuMemory (e.g. '80Gi')"
        )
    return gpu


def product_label(accelerator: str) -> Optional[str]:
    """The `nvidia.com/gpu.product` value that selects nodes of this type; None when the table has none (AMD, unknown).

    A value already written as a label (`NVIDIA-…`) is that label.
    """
    if accelerator.startswith("NVIDIA-"):
        return accelerator
    gpu = _index().get(accelerator_key(accelerator))
    return PRODUCT_LABELS.get(gpu.name) if gpu else None


def mig_profile(gpu_resource: str) -> Optional[str]:
    """'mig-1g.10gb' for the MIG resource `nvidia.com/mig-1g.10gb`; None for a whole GPU."""
    return gpu_resource.split("/", 1)[1] if MIG_RESOURCE.match(gpu_resource) else None


def mig_memory_bytes(resource: str) -> Optional[int]:
    """The memory of a MIG resource name (`nvidia.com/mig-1g.10gb` → 10 GiB), None when it is no MIG resource."""
    match = MIG_RESOURCE.match(resource.strip())
    return int(match["memory"]) * GIB if match else None


def gpu_memory_bytes(
    accelerator: Optional[str] = None, gpu_resource: Optional[str] = None, gpu_memory: Optional[str] = None
) -> int:
    """One GPU's memory: an explicit `gpuMemory` quantity first, then a MIG resource name, then the table."""
    if gpu_memory is not None:
        try:
            amount = parse_quantity(gpu_memory)
        except ValueError as error:
            raise CapacityInputError(f"gpuMemory: {error}") from None
        if amount < Decimal(GIB):
            raise CapacityInputError(f"gpuMemory: {gpu_memory!r} is less than 1Gi; give the GPU's memory, e.g. '80Gi'")
        return int(amount)
    mig = mig_memory_bytes(gpu_resource) if gpu_resource else None
    if mig is not None:
        return mig
    if accelerator is None:
        raise CapacityInputError("no accelerator type, MIG resource or gpuMemory to size the GPU's memory by")
    return gpu_by_name(accelerator).memory_bytes
