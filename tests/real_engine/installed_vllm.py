"""The vLLM the live parser tests run against: .venv-vllm's CPU build, and the image tag of that same version."""

from __future__ import annotations

from vllm_fleet.vllm_args import live

INSTALLED = live.installed_version()
# The image of the installed version: the config and argument checks then use vLLM itself, not a snapshot.
IMAGE = f"vllm/vllm-openai:v{INSTALLED}"
