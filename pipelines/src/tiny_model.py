"""The local sample's base model: a GPT-2-style language model small enough to
build from nothing in seconds on a CPU, standing in for a model catalog asset
where none can be downloaded.

``build`` trains a byte-level BPE tokenizer on the texts of the training
data, gives it a chat template (``<|user|>...`` turns, as small chat models
have), and writes it with a randomly initialised ``GPT2LMHeadModel`` (seeded:
the same weights every time) as an MLflow ``transformers`` model, the form
a model catalog asset has: the fine-tuning step takes it as an
``mlflow_model`` input on both targets, and reads it as it reads any base
model.
Its mechanics are real, its quality is not: it knows nothing but what the
fine-tuning teaches it.

    python tiny_model.py --data ../../data/number-words/number_words.jsonl --output FOLDER
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chat_data import ExampleError, read_examples

from common import fail

END = "<|endoftext|>"
SPECIAL = [END, "<|system|>", "<|user|>", "<|assistant|>"]
# Each turn as "<|role|>text" on a line of its own; the completion follows "<|assistant|>".
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SIZE = {"vocab_size": 512, "n_positions": 128, "n_embd": 64, "n_layer": 2, "n_head": 2}


def build(texts: list[str], folder: Path, seed: int = 0) -> None:
    """Write the tiny base model, its tokenizer trained on ``texts``, to ``folder``
    (which must not hold anything yet)."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=SIZE["vocab_size"], special_tokens=SPECIAL)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=END, eos_token=END, pad_token=END, unk_token=END
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = SIZE["n_positions"]
    torch.manual_seed(seed)
    config = GPT2Config(
        **{**SIZE, "vocab_size": len(tokenizer)},
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    model.eval()
    import mlflow.transformers
    import transformers

    mlflow.transformers.save_model(
        transformers_model={"model": model, "tokenizer": tokenizer},
        path=str(folder),
        task="text-generation",
        pip_requirements=[
            f"torch=={torch.__version__.split('+')[0]}",
            f"transformers=={transformers.__version__}",
        ],
    )


def texts_of(path: Path) -> list[str]:
    """Every text of the examples in ``path``: what the tokenizer learns its pieces from."""
    texts = []
    for example in read_examples(path):
        texts += [content for _, content in example.prompt]
        texts.append(example.completion)
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        texts = texts_of(args.data)
    except (OSError, ExampleError) as error:
        return fail(str(error))
    build(texts, args.output, args.seed)
    print(f"tiny base model written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
