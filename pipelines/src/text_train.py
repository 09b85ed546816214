"""Train step of the text-generation kind: fine-tune a base model with LoRA.

Reads the base model (``text_model.model_files``: a Hugging Face folder, an
MLflow transformers model, or a model catalog asset) and the prep step's
training examples, wraps the model's ``--target-modules`` in LoRA adapters
(peft: ``--lora-rank``, ``--lora-alpha``, ``--lora-dropout``; the base
weights stay frozen), and trains the adapters for ``--epochs`` over the
examples in a seeded order, ``--batch-size`` at a time, with AdamW at
``--learning-rate``, each example cut to ``--max-seq-length`` tokens, the
loss on the completion's tokens only.

The loop is accelerate's: one process on a laptop, or one per GPU and node
when Azure ML starts the step with ``distribution: type: pytorch``
(torchrun's environment), each process training on its share of every
batch. The main process writes, once all are done:

- ``<adapter_output>``: the LoRA adapter in peft's own format (a few hundred
  KB for the sample, megabytes for a catalog model): what the step learned;
- ``<model_output>``: the base model with the adapter merged into its
  weights, saved in MLflow's ``transformers`` flavour (task
  ``text-generation``) with its tokenizer and chat template: what is
  registered, evaluated and deployed;
- the epochs' mean training loss and the run's parameters, to the MLflow run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

# Imported at the top, not where they are used: the local target's warm
# interpreter preloads a later step's top-level imports (seconds of torch).
import mlflow
import mlflow.transformers
import peft
import torch
import transformers
from accelerate import Accelerator
from accelerate.utils import set_seed
from chat_data import ExampleError, read_examples
from text_model import batches, encode, load
from text_prep import EXAMPLES_FILE

from common import fail

TASK = "text-generation"
# ``--target-modules`` naming every linear layer of any architecture (peft's word).
ALL_LINEAR = "all-linear"
# Beside the merged model, as the tabular kinds' train step writes it: what the
# model takes and gives (mlops.task reads it to compare it with the champion).
CONTRACT_FILE = "data_contract.json"
CONTRACT = {
    "kind": TASK,
    "target_column": "completion",
    "positive_class": None,
    "features": ["messages"],
}


def lora_model(model, args):
    """``model`` with LoRA adapters on ``args.target_modules``, the rest frozen."""
    if args.target_modules.strip() == ALL_LINEAR:
        modules = ALL_LINEAR  # peft finds them: every linear layer but the output
    else:
        modules = [name.strip() for name in args.target_modules.split(",") if name.strip()]
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [] if modules == ALL_LINEAR else [n for n in modules if n not in present]
    if not modules or missing:
        layers = ", ".join(sorted(n for n in present if n and not n.isdigit())[:20])
        raise ValueError(
            f"--target-modules {args.target_modules!r}: the model has no "
            f"{', '.join(missing) or 'module named'}; its layers include {layers}"
        )
    config = peft.LoraConfig(
        r=args.lora_rank,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=modules,
        task_type="CAUSAL_LM",
    )
    return peft.get_peft_model(model, config)


def fine_tune(args) -> tuple[object, object, dict]:
    """(the accelerator, the trained peft model, its tokenizer, the training metrics,
    each epoch's mean loss)."""
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    # The same seed, data and machine give the same adapter (mlops reproduce).
    set_seed(args.seed, deterministic=True)
    model, tokenizer = load(args.base_model, for_training=True)
    model = lora_model(model, args)
    examples = read_examples(args.train_data / EXAMPLES_FILE)
    encoded = [encode(tokenizer, example, args.max_seq_length) for example in examples]
    order = torch.Generator().manual_seed(args.seed)
    loader = torch.utils.data.DataLoader(
        encoded,
        batch_size=args.batch_size,
        shuffle=True,
        generator=order,
        collate_fn=lambda part: next(batches(part, len(part), tokenizer.pad_token_id)),
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=args.learning_rate)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    losses = []
    for _ in range(args.epochs):
        total, count = 0.0, 0
        for batch in loader:
            loss = model(**batch).loss
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            total, count = total + float(loss.detach()), count + 1
        losses.append(total / max(count, 1))
    accelerator.wait_for_everyone()
    metrics = {
        "train_loss": losses[-1],
        "train_examples": float(len(examples)),
        "trainable_parameters": float(sum(p.numel() for p in trainable)),
    }
    return accelerator, accelerator.unwrap_model(model), tokenizer, metrics, losses


def save(peft_model, tokenizer, args) -> None:
    """The adapter to ``--adapter-output``, the merged model (MLflow) to ``--model-output``."""
    peft_model.save_pretrained(args.adapter_output)
    merged = peft_model.merge_and_unload()
    merged.eval()
    mlflow.transformers.save_model(
        transformers_model={"model": merged, "tokenizer": tokenizer},
        path=str(args.model_output),
        task=TASK,
        # Named: inferring them loads the model again in a subprocess.
        pip_requirements=[
            f"torch=={torch.__version__.split('+')[0]}",
            f"transformers=={transformers.__version__}",
            f"peft=={peft.__version__}",
        ],
    )
    (args.model_output / CONTRACT_FILE).write_text(json.dumps(CONTRACT, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-model", required=True, type=Path)
    parser.add_argument("--train-data", required=True, type=Path)
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--lora-alpha", type=int, default=16)
    parser.add_argument("--lora-dropout", type=float, default=0.0)
    parser.add_argument("--target-modules", default=ALL_LINEAR)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model-output", required=True, type=Path)
    parser.add_argument("--adapter-output", required=True, type=Path)
    args = parser.parse_args(argv)

    try:
        accelerator, model, tokenizer, metrics, losses = fine_tune(args)
    except (OSError, ExampleError, ValueError) as error:
        return fail(str(error))
    if not accelerator.is_main_process:
        return 0
    params = {
        name: getattr(args, name)
        for name in (
            "lora_rank", "lora_alpha", "lora_dropout", "target_modules", "epochs",
            "learning_rate", "batch_size", "max_seq_length", "seed",
        )
    }  # fmt: skip
    with mlflow.start_run():
        mlflow.log_params({**params, "processes": accelerator.num_processes})
        for epoch, loss in enumerate(losses):
            mlflow.log_metric("epoch_loss", loss, step=epoch)
        mlflow.log_metrics(metrics)
    save(model, tokenizer, args)
    (args.adapter_output / "training.json").write_text(json.dumps({**params, **metrics}))
    print(
        f"train_loss={metrics['train_loss']:.4f} (perplexity {math.exp(metrics['train_loss']):.2f})"
        f" trainable_parameters={metrics['trainable_parameters']:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
