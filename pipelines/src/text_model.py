"""What the text-generation steps share: finding a model's files, and turning
examples into the token ids a causal language model trains and is scored on.

A model folder is a Hugging Face one (``config.json`` and the weights, a
tokenizer beside them), an MLflow ``transformers`` model (``MLmodel``, the
weights under ``model/``, the tokenizer under ``components/tokenizer/``),
or a model catalog asset as Azure ML's registry holds it (an MLflow model
with the weights under ``data/model/``, the tokenizer there or under
``data/tokenizer/``). ``model_files`` finds both in any of them.

An example's tokens are its prompt as the tokenizer's chat template writes
it, with the assistant's turn opened (``add_generation_prompt``), then the
completion and the end-of-text token. Only the completion's tokens are
labelled: the loss, and so the perplexity, measure how well the model
answers, not how well it repeats the question.
"""

from __future__ import annotations

from pathlib import Path

from chat_data import Example

IGNORED = -100  # the label torch's cross-entropy skips
# Where the weights and the tokenizer sit in each layout, relative to the folder.
# (A tokenizer beside the weights is taken too.)
LAYOUTS = (
    (".", "."),
    ("model", "components/tokenizer"),
    ("data/model", "data/tokenizer"),
)


def model_files(folder: Path) -> tuple[Path, Path]:
    """(the weights' folder, the tokenizer's folder) of the model in ``folder``;
    raises ValueError saying what a model folder holds when it is none."""
    for weights, tokenizer in LAYOUTS:
        if (folder / weights / "config.json").is_file():
            for place in (folder / tokenizer, folder / weights):
                if (place / "tokenizer_config.json").is_file():
                    return folder / weights, place
            raise ValueError(f"{folder}: a model without a tokenizer (no tokenizer_config.json)")
    raise ValueError(
        f"{folder}: not a model: no config.json there, nor under model/ or data/model/ (a "
        "Hugging Face model folder, an MLflow transformers model, or a model catalog asset)"
    )


def load(folder: Path, *, for_training: bool = False):
    """(model, tokenizer) of the model in ``folder`` (see ``model_files``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    weights, tokens = model_files(folder)
    tokenizer = AutoTokenizer.from_pretrained(tokens)
    if tokenizer.pad_token_id is None:  # many catalog models have none: pad with the end
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(weights)
    model.train(for_training)
    return model, tokenizer


def prompt_ids(tokenizer, prompt) -> list[int]:
    """The token ids of ``prompt`` ((role, content) pairs) with the answer's turn opened."""
    messages = [{"role": role, "content": content} for role, content in prompt]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):  # a BatchEncoding in some versions
        ids = ids["input_ids"]
    return list(ids)


def encode(tokenizer, example: Example, max_length: int) -> tuple[list[int], list[int]]:
    """(input ids, labels) of ``example``, at most ``max_length`` tokens: the prompt is
    cut from its start when the whole would be longer, the completion never."""
    answer = tokenizer(example.completion, add_special_tokens=False)["input_ids"]
    answer = [*answer, tokenizer.eos_token_id][:max_length]
    prompt = prompt_ids(tokenizer, example.prompt)
    prompt = prompt[max(0, len(prompt) - (max_length - len(answer))) :]
    return prompt + answer, [IGNORED] * len(prompt) + answer


def batches(encoded: list[tuple[list[int], list[int]]], size: int, pad_id: int):
    """Padded tensors (input_ids, attention_mask, labels) of ``size`` examples at a
    time, in the order given."""
    import torch

    for start in range(0, len(encoded), size):
        part = encoded[start : start + size]
        width = max(len(ids) for ids, _ in part)
        ids = [row + [pad_id] * (width - len(row)) for row, _ in part]
        mask = [[1] * len(row) + [0] * (width - len(row)) for row, _ in part]
        labels = [row + [IGNORED] * (width - len(row)) for _, row in part]
        yield {
            "input_ids": torch.tensor(ids),
            "attention_mask": torch.tensor(mask),
            "labels": torch.tensor(labels),
        }
