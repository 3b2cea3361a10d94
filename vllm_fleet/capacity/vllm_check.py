"""vLLM's own engine config, built from a model's local config.json when the `vllm` package is importable.

Why: the rules in `memory.py` restate vLLM's checks; vLLM itself knows more
(which architectures it serves, which dtypes and quantisation methods it
takes, the exact limit on max-model-len). When vLLM is installed (an optional
extra), the plan asks it directly, with the same calls `vllm serve` makes
before it loads anything: `ModelConfig(...)` and
`ModelConfig.verify_with_parallel_config(ParallelConfig(...))`.

Bounded: vLLM sees a temporary directory holding only a copy of the
config.json (no weights, no tokenizer to read), with the Hugging Face hub
offline, the tokenizer skipped and remote code never trusted. Each call that
fails reports at the key it tried, in vLLM's own words on one line.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from ..vllm_args.live import vllm_log_level
from .memory import CapacityIssue

#: Environment variables that keep transformers and huggingface_hub off the network.
OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
#: A message longer than this keeps only its leading sentences (vLLM appends lists of every architecture).
MAX_MESSAGE = 300


def vllm_config_issues(
    config_file: Path,
    tensor: int,
    pipeline: int,
    max_model_len: Optional[int] = None,
    dtype: Optional[str] = None,
    quantization: Optional[str] = None,
) -> list[CapacityIssue]:
    """What the installed vLLM rejects when it builds this model's engine config (key paths relative to the model).

    The model config is built once bare (a failure is the config.json's:
    `modelConfigFile`), then once per engine arg the stack sets (a failure
    names that arg), then checked against TP and PP separately.
    """
    try:
        from vllm.config import ModelConfig, ParallelConfig
    except Exception as error:  # noqa: BLE001 - a broken install is no finding about the stack's model
        why = f"the installed vLLM did not load ({type(error).__name__}: {error})"
        return [CapacityIssue("warning", ("modelConfigFile",), f"vLLM's config check skipped: {why}")]

    with tempfile.TemporaryDirectory(prefix="vllm-fleet-config-") as model_dir, _offline_and_quiet():
        shutil.copyfile(config_file, Path(model_dir) / "config.json")

        def build(field: tuple[str, ...], **engine: Any) -> tuple[Any, list[CapacityIssue]]:
            try:
                return ModelConfig(model=model_dir, tokenizer=model_dir, skip_tokenizer_init=True,
                                   trust_remote_code=False, **engine), []
            except Exception as error:  # noqa: BLE001 - vLLM raises ValueError, pydantic's, OSError, …
                return None, [CapacityIssue("error", field, _one_line(error, model_dir, config_file))]

        model, issues = build(("modelConfigFile",))
        if model is None:
            return issues
        for key, name, value in (("max-model-len", "max_model_len", max_model_len), ("dtype", "dtype", dtype),
                                 ("quantization", "quantization", quantization)):
            if value is not None:
                issues += build(("engineArgs", key), **{name: value})[1]
        for field, name, size in ((("parallelism", "tensor"), "tensor_parallel_size", tensor),
                                  (("parallelism", "pipeline"), "pipeline_parallel_size", pipeline)):
            if size == 1:
                continue
            try:
                model.verify_with_parallel_config(ParallelConfig(distributed_executor_backend="mp", **{name: size}))
            except Exception as error:  # noqa: BLE001 - ValueError, NotImplementedError (no pipeline support)
                issues.append(CapacityIssue("error", field, _one_line(error, model_dir, config_file)))
    return issues


def _one_line(error: Exception, model_dir: str, config_file: Path) -> str:
    """vLLM's message on one line, naming the user's file instead of the temporary copy."""
    errors = getattr(error, "errors", None)  # pydantic's ValidationError wraps vLLM's ValueError
    text = errors()[0]["msg"].removeprefix("Value error, ") if callable(errors) else str(error)
    words = " ".join(text.replace(model_dir, str(config_file)).split())
    sentences = words.split(". ")
    kept = sentences[0]
    for sentence in sentences[1:]:
        if len(kept) + len(sentence) + 2 > MAX_MESSAGE:
            break
        kept += ". " + sentence
    return f"vLLM rejects it: {kept.rstrip('.')}"


@contextmanager
def _offline_and_quiet() -> Iterator[None]:
    """The hub offline and vLLM's own logging muted for the duration; the caller's settings restored after.

    vLLM reads `huggingface_hub.constants.HF_HUB_OFFLINE` at each call, so the
    flag is set there as well as in the environment (read once at import).
    """
    import huggingface_hub.constants as hub

    saved_env = {name: os.environ.get(name) for name in OFFLINE_ENV}
    saved_offline = hub.HF_HUB_OFFLINE
    os.environ.update({name: "1" for name in OFFLINE_ENV})
    hub.HF_HUB_OFFLINE = True
    try:
        with vllm_log_level(logging.CRITICAL):  # config-parse retries log errors the finding already words
            yield
    finally:
        hub.HF_HUB_OFFLINE = saved_offline
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
