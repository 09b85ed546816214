"""``mlops new-model``: a new model's folder, with its settings written out to edit.

``new_model(fork, name, kind, source)`` writes ``models/<name>/mlops.yml``:
every key with a comment saying what it does, the kind's default gate, names
(endpoint, registry entry, experiment) after the model's and a port offset no
other model of the fork takes. With ``source``, the data and columns (and,
for a model of the same kind, the gate) come from that existing model. It
writes nothing when the name is taken or invalid.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from mlops.kinds import KINDS, get_kind
from mlops.settings import (
    DEFAULT_FILE,
    MODEL_NAME,
    MODELS_FOLDER,
    FinetuneSettings,
    Fork,
    SettingsError,
    base_ports,
    default_gate,
    read_yaml,
)
from mlops.state_files import write_file

# Offsets are handed out in steps of this: room for a few environments each.
OFFSET_STEP = 10


# The base model a new text-generation model starts from on Azure (finetune.base_model).
CATALOG_MODEL = "azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/14"


def new_model(fork: Fork, name: str, kind: str, source: str | None = None) -> Path:
    """Write the settings of a new model ``name`` of ``kind``; return the file."""
    if not re.fullmatch(MODEL_NAME, name):
        raise SettingsError(
            f"{name!r} is not a model name: use 3 to 32 lower-case letters, digits and "
            "hyphens, starting with a letter (it names the model's folder and endpoint)"
        )
    path = fork.root / MODELS_FOLDER / name / DEFAULT_FILE
    if path.exists():
        raise SettingsError(f"{path}: model {name} exists already; edit it, or pick another name")
    existing: dict = {}
    if source is not None:
        if source not in fork.models:
            known = ", ".join(fork.models) or "none"
            raise SettingsError(f"--from {source}: no such model (the models are: {known})")
        existing = read_yaml(fork.models[source])
    text = settings_text(fork, name, kind, existing, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, text.encode())
    return path


def free_offset(fork: Fork) -> int:
    """The smallest multiple of ``OFFSET_STEP`` whose ports no model of the fork takes."""
    bases = [port for _, port in base_ports(fork.settings.local, fork.settings.environments)]
    taken = set()
    for path in fork.models.values():
        try:
            endpoint = read_yaml(path).get("endpoint") or {}
        except SettingsError:
            continue
        offset = endpoint.get("port_offset", 0) if isinstance(endpoint, dict) else 0
        taken |= {base + offset for base in bases if isinstance(offset, int)}
    offset = 0
    while {base + offset for base in bases} & taken:
        offset += OFFSET_STEP
    return offset


def settings_text(fork: Fork, name: str, kind_name: str, existing: dict, source: str | None) -> str:
    """The commented settings file of a new model (see the module docstring)."""
    kind = get_kind(kind_name)
    data = existing.get("data") if isinstance(existing.get("data"), dict) else {}
    sensitive = data.get("sensitive_column")
    same_kind = existing.get("kind") == kind.name
    gate = existing.get("gate") if same_kind and isinstance(existing.get("gate"), dict) else None
    gate = gate or default_gate(kind.name, groups=sensitive is not None)
    gate.setdefault("plausibility", [dict(rule) for rule in kind.plausibility])
    source_folder = fork.models[source].parent if source else None

    def path_of(value: object, default: str) -> str:
        if (
            isinstance(value, str)
            and source_folder is not None
            and not value.startswith("azureml:")
        ):
            folder = fork.root / MODELS_FOLDER / name
            absolute = (source_folder / value).resolve()
            return _relative_to(absolute, folder)
        return default

    lines = [
        *_comment(
            f"Model {name} of the fork: {kind.summary}. `mlops --model {name} ...` (or "
            f"MLOPS_MODEL={name}) works on it; the fork's own settings (target, "
            "environments, state) are in ../../mlops.yml. Paths are relative to this "
            "file; a key left out takes the default named beside it."
            + (f" Started from model {source}'s settings." if source else "")
        ),
        "",
        *_comment(
            f"What the model predicts: {', '.join(KINDS)}. The kind decides the data, "
            "the pipeline, the metrics, the default gate and the endpoint's answer."
        ),
        f"kind: {kind.name}",
        "",
        "data:",
        "  # Name of the data asset; its versions are content hashes of the file.",
        f"  asset_name: {_yaml(data.get('asset_name', name))}",
    ]
    if kind.family.labelled:
        lines += _table_lines(
            kind, data, path_of(data.get("path"), f"../../data/{name}/{name}.csv")
        )
    else:
        lines += _examples_lines(path_of(data.get("path"), f"../../data/{name}/{name}.jsonl"))
    family = kind.family
    defaults = fork.settings.defaults.pipeline
    lines += [
        "",
        "pipeline:",
        "  # The Azure ML pipeline job both targets run: the fork's shared one, or a",
        "  # pipeline YAML of this folder's own (its components may be the shared ones).",
        f"  file: ../../{family.pipeline_file}",
        "  # The experiment its runs are recorded under.",
        f"  experiment_name: {name}",
        "  # Fraction of the rows held out for evaluation; default: the fork's defaults.",
        f"  # test_size: {defaults.test_size}",
        "  # The seed of the split and the training; default: the fork's defaults.",
        f"  # seed: {defaults.seed}",
    ]
    if family.labelled:
        lines += [
            "  # The permutation importance of evaluate: test rows shuffled, shuffles each.",
            f"  # explain_rows: {defaults.explain_rows}",
            f"  # explain_repeats: {defaults.explain_repeats}",
            "  # SHAP values on at most this many test rows (0: none).",
            f"  # shap_rows: {defaults.shap_rows}",
        ]
    lines += [
        "  # The metrics the evaluate step writes; a gate rule may only name one of them.",
        f"  metrics: ../../{kind.catalog()}",
        "",
        *(_finetune_lines() if family.fine_tunes else []),
        "model:",
        "  # Name under which trained models are registered (and promoted to the registry).",
        f"  name: {name}",
        "",
        "# A new model is promoted only when every rule holds. Each rule names the way",
        "# its metric improves (better: higher takes min, lower takes max); a missing or",
        "# NaN metric fails. fairness: gaps between the groups of sensitive_column.",
        "# plausibility: a value at or beyond implausible_at is refused as too good to",
        "# be true ([] turns it off). improvement: against the champion, the model",
        "# serving now: by min_delta (a fraction of the champion's with relative: true).",
        *_comment(f"The metrics of a {kind.name} model: {', '.join(_catalog(fork, kind))}."),
        "gate:",
        *(f"  {line}" for line in _gate_lines(gate)),
        "",
        "endpoint:",
        "  # The online endpoint that serves the model (on Azure, unique per region:",
        "  # 3-32 letters, digits and hyphens, starting with a letter).",
        f"  name: {name}",
        "  # The Azure ML deployment YAML: scoring script, environment, probes, limits.",
        f"  deployment: ../../{family.deployment_file}",
        "  # Locally, the endpoint answers on the fork's port (local.endpoint_port, or",
        "  # the environment's) plus this offset: each model of the fork has its own.",
        f"  port_offset: {free_offset(fork)}",
        "  # Rows of the test split sent to a new deployment before it takes traffic.",
        f"  # smoke_rows: {fork.settings.defaults.endpoint.smoke_rows}",
        "",
        *(_monitor_lines() if family.monitored else []),
        "# What the model card (mlops card) says of the model that no record can.",
        "card:",
        "  intended_use: ''  # what the model is for, and for whom",
        "  limitations: ''  # where it must not be used, and why",
    ]
    return "\n".join(lines) + "\n"


def _monitor_lines() -> list[str]:
    return [
        "monitor:",
        "  # The share of requests whose inputs and answers the serving deployment",
        "  # collects (the deployment file's data_collector), from more than 0 to 1.",
        "  sampling_rate: 1.0",
        "",
    ]


def _finetune_lines() -> list[str]:
    """The finetune section, with the defaults of ``settings.FinetuneSettings``."""
    tuning = FinetuneSettings(base_model=CATALOG_MODEL)
    return [
        "finetune:",
        "  # On Azure: a model catalog asset, or a registered model (azureml:NAME:VERSION).",
        f"  base_model: {tuning.base_model}",
        "  # Locally: the folder of a model on this machine, or tiny: a small GPT-2-style",
        "  # model built from data.path on first use (real mechanics, no real quality).",
        f"  local_base_model: {tuning.local_base_model}",
        "  # Azure's fine-tuning: pipeline (pipelines/finetune.yml on the GPU cluster) or",
        "  # serverless (Azure ML's service, for catalog models that offer it; it takes",
        "  # epochs, learning_rate and batch_size, none of the train step's keys below).",
        f"  backend: {tuning.backend}",
        "  # The train step's nodes on Azure (one process per node).",
        f"  instance_count: {tuning.instance_count}",
        "  # LoRA's rank, alpha and dropout, and the layers it adapts (or all-linear).",
        f"  lora_rank: {tuning.lora_rank}",
        f"  lora_alpha: {tuning.lora_alpha}",
        f"  lora_dropout: {tuning.lora_dropout}",
        f"  target_modules: {tuning.target_modules}",
        f"  epochs: {tuning.epochs}",
        f"  learning_rate: {tuning.learning_rate}",
        f"  batch_size: {tuning.batch_size}",
        "  # Tokens of prompt and completion together; longer examples are cut.",
        f"  max_seq_length: {tuning.max_seq_length}",
        "  # The evaluate step: tokens generated per held-out prompt, and how many.",
        f"  max_new_tokens: {tuning.max_new_tokens}",
        f"  generate_examples: {tuning.generate_examples}",
        "",
    ]


def _table_lines(kind, data: dict, path: str) -> list[str]:
    """The data section's lines of a tabular model, after its asset_name."""
    sensitive = data.get("sensitive_column")
    features = data.get("features") if isinstance(data.get("features"), dict) else {}
    lines = [
        "  # The raw CSV file (never modified: registration copies it), or on Azure a",
        "  # file in the workspace's storage: azureml://datastores/<store>/paths/<file>.",
        f"  path: {_yaml(path)}",
        "  # The column to predict: "
        + (
            "two values, one of them positive_class."
            if kind.positive_class
            else "3 to 100 classes (words or numbers)."
            if kind.name == "multiclass-classification"
            else "a number in every row."
        ),
        f"  target_column: {_yaml(data.get('target_column', 'label'))}",
    ]
    if kind.positive_class:
        lines += [
            "  # The value of target_column that counts as positive (class 1), as written",
            '  # in the file: a number ("1"), a word (yes, Y, default) or true/false.',
            f"  positive_class: {_yaml(str(data.get('positive_class', '1')))}",
        ]
    lines += [
        "  # Group column for the fairness metrics (two or more groups); never a model",
        "  # feature. null when the data has none: then gate.fairness must be empty.",
        f"  sensitive_column: {_yaml(sensitive)}",
        "  features:",
        "    # Feature columns: numbers, true/false or text categories (at most 255",
        "    # values), gaps allowed. Empty means every column but the target and",
        "    # sensitive ones.",
        f"    include: {_yaml(features.get('include', []))}",
        "    # Columns never used as features.",
        f"    exclude: {_yaml(features.get('exclude', []))}",
    ]
    return lines


def _examples_lines(path: str) -> list[str]:
    """The data section's lines of a model fine-tuned on examples, after its asset_name."""
    return [
        "  # JSONL, one example per line, as Azure ML's fine-tuning takes them:",
        '  # {"messages": [{"role": "user", "content": ...}, {"role": "assistant", ...}]}',
        '  # (a system message may come first) or {"prompt": ..., "completion": ...}.',
        f"  path: {_yaml(path)}",
    ]


def _comment(text: str, indent: str = "") -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(text, width=84 - len(indent))]


def _gate_lines(gate: dict) -> list[str]:
    lines = []
    for key in ("thresholds", "fairness", "plausibility"):
        rules = gate.get(key) or []
        if not rules:
            lines.append(f"{key}: []")
            continue
        lines.append(f"{key}:")
        lines += [f"  - {_yaml(rule)}" for rule in rules]
    if gate.get("improvement"):
        lines.append(f"improvement: {_yaml(gate['improvement'])}")
    return lines


def _yaml(value: object) -> str:
    """``value`` as one line of YAML flow style (JSON is YAML; keys stay unquoted)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    text = str(value)
    plain = re.fullmatch(r"[A-Za-z_./][A-Za-z0-9_./-]*", text) and text not in (
        "true",
        "false",
        "null",
    )
    return text if plain else json.dumps(text, ensure_ascii=False)


def _catalog(fork: Fork, kind) -> list[str]:
    try:
        raw = json.loads((fork.root / kind.catalog()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ["(see " + kind.catalog() + ")"]
    return [name for name, entry in raw.items() if isinstance(entry, dict) and entry.get("better")]


def _relative_to(path: Path, folder: Path) -> str:
    import os

    return Path(os.path.relpath(path, folder)).as_posix()
