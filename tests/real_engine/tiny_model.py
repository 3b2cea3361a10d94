"""A tiny Llama-architecture model, made locally (no hub): random weights, a BPE
tokenizer trained on a few sentences, a chat template. About 1 MB.

Its shape allows the layouts the suite runs: heads divisible by 2 (TP up to 2),
2 layers (PP up to 2). It answers nonsense, but vLLM loads, shards and serves it
exactly as it would a real checkpoint of the same architecture.
"""

from __future__ import annotations

from pathlib import Path

SENTENCES = [
    "vLLM serves large language models on many GPUs across many nodes.",
    "A pipeline-parallel group splits the layers of the model between pods.",
    "The head pod serves the OpenAI-compatible API and the workers join it.",
    "Ray forms the cluster; the watchdog notices when a member is lost.",
    "Hello, how are you today? I am fine, thank you. What is the capital of France?",
    "user assistant system: the quick brown fox jumps over the lazy dog 0123456789",
]
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
VOCAB_SIZE = 512


def build(directory: Path) -> Path:
    """Write the model and tokenizer into `directory` (created) and return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(SENTENCES, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="</s>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).save_pretrained(directory, safe_serialization=True)
    return directory
