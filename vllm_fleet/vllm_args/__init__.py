"""vLLM's `vllm serve` argument parser, for checking engineArgs before anything is deployed.

- `schema`: the parser's options as data (read from vLLM, or from a shipped snapshot per vLLM version);
- `live`: the installed vLLM's own parser, when `vllm` is importable;
- `snapshot_parser`: an argparse parser rebuilt from a snapshot, for machines without vLLM;
- `check`: which of them a model's image calls for;
- `argv_check`: every role's argv through it, refusals traced to their engineArgs key.

docs/engine-args.md tells the story; scripts/vllm_arg_schema.py writes the snapshots.
"""
