"""Evaluate step of the text-generation kind: score the fine-tuned model on the
held-out examples.

Reads the model (MLflow ``transformers``, as the train step saved it) and the
prep step's test examples, and writes into ``<metrics_output>``:

- ``metrics.json``, logged to the MLflow run as well, in the order of
  ``metrics/text-generation.json``: ``loss`` (the mean cross-entropy of the
  completions' tokens given their prompts, in nats) and ``perplexity``
  (e to the loss); then, from a greedy completion of each of at most
  ``--generate-examples`` test prompts (drawn with ``--seed``, at most
  ``--max-new-tokens`` each), ``exact_match``, ``token_f1`` and ``rouge_l``
  against the reference completions (``text_metrics.py``); and the counts
  ``test_examples`` and ``generated_examples``.
- ``generations.jsonl``: each generated prompt's reference and completion, for
  a reviewer to read what the numbers summarise.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

# Imported at the top, not where they are used: the local target's warm
# interpreter preloads a later step's top-level imports (seconds of torch).
import mlflow
import torch
import transformers  # noqa: F401 - what text_model.load imports
from chat_data import ExampleError, read_examples
from text_metrics import task_metrics
from text_model import IGNORED, batches, encode, load, prompt_ids
from text_prep import EXAMPLES_FILE

from common import fail, output_file

CATALOG = Path(__file__).with_name("metrics") / "text-generation.json"
METRICS_FILE = "metrics.json"
GENERATIONS_FILE = "generations.jsonl"


def held_out_loss(model, tokenizer, examples, max_length: int, batch_size: int) -> float:
    """The mean cross-entropy per completion token of ``examples``."""
    encoded = [encode(tokenizer, example, max_length) for example in examples]
    total, counted = 0.0, 0
    with torch.no_grad():
        for batch in batches(encoded, batch_size, tokenizer.pad_token_id):
            labels = batch.pop("labels")
            logits = model(**batch).logits[:, :-1]
            targets = labels[:, 1:]
            losses = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                targets.reshape(-1),
                ignore_index=IGNORED,
                reduction="sum",
            )
            total += float(losses)
            counted += int((targets != IGNORED).sum())
    return total / counted


def generate(model, tokenizer, prompts, max_new_tokens: int, batch_size: int) -> list[str]:
    """The greedy completion of each prompt ((role, content) pairs), its text only."""
    completions = []
    for start in range(0, len(prompts), batch_size):
        ids = [prompt_ids(tokenizer, prompt) for prompt in prompts[start : start + batch_size]]
        width = max(len(row) for row in ids)
        # Padded on the left: each prompt ends where its completion starts.
        padded = [[tokenizer.pad_token_id] * (width - len(row)) + row for row in ids]
        mask = [[0] * (width - len(row)) + [1] * len(row) for row in ids]
        with torch.no_grad():
            out = model.generate(
                input_ids=torch.tensor(padded),
                attention_mask=torch.tensor(mask),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        for row in out[:, width:]:
            completions.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    return completions


def evaluate(model, tokenizer, examples, args) -> tuple[dict[str, float], list[dict]]:
    """(metrics.json's values in the catalogue's order, generations.jsonl's records)."""
    loss = held_out_loss(model, tokenizer, examples, args.max_seq_length, args.batch_size)
    chosen = examples
    if len(examples) > args.generate_examples:
        picked = random.Random(args.seed).sample(range(len(examples)), args.generate_examples)
        chosen = [examples[i] for i in sorted(picked)]
    generated = generate(
        model, tokenizer, [e.prompt for e in chosen], args.max_new_tokens, args.batch_size
    )
    references = [e.completion for e in chosen]
    measured = {
        "loss": loss,
        "perplexity": math.exp(min(loss, 700.0)),  # e**710 is past a float
        **task_metrics(generated, references),
        "test_examples": float(len(examples)),
        "generated_examples": float(len(chosen)),
    }
    catalog = list(json.loads(CATALOG.read_text()))
    if set(catalog) != set(measured):
        raise ValueError(f"{CATALOG.name} lists {catalog}; the step measures {list(measured)}")
    records = [
        {"prompt": e.prompt[-1][1], "reference": e.completion, "generated": g}
        for e, g in zip(chosen, generated, strict=True)
    ]
    return {name: measured[name] for name in catalog}, records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--test-data", required=True, type=Path)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--generate-examples", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--metrics-output", required=True, type=Path)
    args = parser.parse_args(argv)
    if min(args.max_new_tokens, args.generate_examples, args.batch_size) < 1:
        return fail("--max-new-tokens, --generate-examples and --batch-size take 1 or more")
    try:
        model, tokenizer = load(args.model)
        examples = read_examples(args.test_data / EXAMPLES_FILE)
        results, records = evaluate(model, tokenizer, examples, args)
    except (OSError, ExampleError, ValueError) as error:
        return fail(str(error))
    output_file(args.metrics_output, METRICS_FILE).write_text(json.dumps(results, indent=2))
    with open(output_file(args.metrics_output, GENERATIONS_FILE), "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    with mlflow.start_run():
        mlflow.log_metrics(results)
    print(" ".join(f"{name}={value:.4f}" for name, value in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
