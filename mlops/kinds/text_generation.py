"""``text-generation``: a language model fine-tuned from a base model with LoRA
on chat examples, answering a prompt with generated text.

Its data are JSONL examples (chat messages or prompt/completion pairs);
its pipeline is ``pipelines/finetune.yml``, whose base model and LoRA
settings come from the settings' ``finetune:``. Judged by held-out
perplexity and the task metrics of generated completions (token F1, exact
match, ROUGE-L); deployed with ``generate_score.py``, whose answer is a
completion. Its data have no columns to monitor. What the control plane
does with it is in ``mlops.families.text_generation``.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlops.kinds import Family, Kind

FINISH_REASONS = ("stop", "length")

# Pipeline input -> the settings key it is set from.
SETTINGS_INPUTS = {
    "test_size": "pipeline.test_size",
    "seed": "pipeline.seed",
    **{
        name: f"finetune.{name}"
        for name in (
            "lora_rank", "lora_alpha", "lora_dropout", "target_modules", "epochs",
            "learning_rate", "batch_size", "max_seq_length", "max_new_tokens",
            "generate_examples",
        )
    },
}  # fmt: skip


def check_answer(answer: Mapping, rows: int) -> None:
    """``{"completion": text, "finish_reason": "stop" | "length", "usage":
    {"prompt_tokens": n, "completion_tokens": n}}``, for one prompt (``rows`` 1)."""
    if rows != 1:
        raise ValueError(f"a generation answers one prompt, not {rows}")
    try:
        completion, reason, usage = answer["completion"], answer["finish_reason"], answer["usage"]
        counts = [usage["prompt_tokens"], usage["completion_tokens"]]
    except (KeyError, TypeError):
        raise ValueError("the answer is not the generation contract's JSON") from None
    if not isinstance(completion, str):
        raise ValueError("a completion that is not text")
    if reason not in FINISH_REASONS:
        raise ValueError(f"finish_reason {reason!r} is none of {', '.join(FINISH_REASONS)}")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
        raise ValueError("token counts that are not whole numbers")


FAMILY = Family(
    name="text-generation",
    labelled=False,
    fine_tunes=True,
    pipeline_file="pipelines/finetune.yml",
    deployment_file="pipelines/endpoints/generation-deployment.yml",
    settings_inputs=SETTINGS_INPUTS,
    chat=True,
    monitored=False,
)

KIND = Kind(
    name="text-generation",
    summary="a language model fine-tuned with LoRA on chat examples: generated text",
    headline="token_f1",
    gate={
        "thresholds": [
            {"metric": "perplexity", "better": "lower", "max": 100.0},
            {"metric": "token_f1", "better": "higher", "min": 0.20},
        ],
        "fairness": [],
        "improvement": {"metric": "token_f1", "better": "higher", "min_delta": 0.005},
    },
    # No bound: a model may well complete every held-out prompt word for word.
    plausibility=(),
    positive_class=False,
    check_label=None,
    check_answer=check_answer,
    draw=None,
    picture="",
    prediction_type="text",
    family=FAMILY,
)
