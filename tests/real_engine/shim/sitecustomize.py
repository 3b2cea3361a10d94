"""Test-only shim: let vLLM's CPU platform use the Ray executor.

Why: vLLM's CPU platform declares `ray_device_key = ""`, which its Ray executor
reads as "this platform does not support ray" (`ValueError: current platform
cpu does not support ray`). On a GPU node the CUDA platform says "GPU". The test
pods start Ray with `--num-gpus` (fake GPUs, as the rendered scripts do from the
GPU plan), so naming "GPU" here makes vLLM place one worker per fake GPU, which
is all the Ray layout needs on a CPU-only machine.

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

_TARGET = "vllm.platforms.cpu"


class _PatchCpuPlatform(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            module.CpuPlatform.ray_device_key = "GPU"

        spec.loader.exec_module = exec_and_patch
        return spec


sys.meta_path.insert(0, _PatchCpuPlatform())
