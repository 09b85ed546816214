"""Prep step of the text-generation kind: check, deduplicate and split the examples.

Reads the JSONL training data (a file, or a folder holding one ``.jsonl``
file), checks every line (``chat_data.py``: the line and field of the first
wrong one end the step), drops the examples that repeat an earlier one (the
same prompt and completion: a duplicate would sit on both sides of the
split), and splits the rest at random with ``--seed``, ``--test-size`` of
them held out. Writes ``examples.jsonl`` (chat lines) into
``<train_data>`` and ``<test_data>``, and ``prep.json`` beside the training
examples: the counts of read, duplicate, train and test examples.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from chat_data import Example, ExampleError, read_examples, write_examples

from common import fail, output_file

EXAMPLES_FILE = "examples.jsonl"
PREP_FILE = "prep.json"


def jsonl_file(path: Path) -> Path:
    """``path``, or the single ``.jsonl`` file in the folder ``path``."""
    if not path.is_dir():
        return path
    files = sorted(path.glob("*.jsonl"))
    if len(files) != 1:
        raise FileNotFoundError(f"expected one .jsonl file in {path}, found {len(files)}")
    return files[0]


def deduplicate(examples: list[Example]) -> list[Example]:
    """``examples`` without those that repeat an earlier one, in their order."""
    seen, kept = set(), []
    for example in examples:
        if example not in seen:
            seen.add(example)
            kept.append(example)
    return kept


def split(examples: list[Example], test_size: float, seed: int) -> tuple[list, list]:
    """(train, test): ``test_size`` of ``examples`` (at least one, and at least one
    left to train on) held out at random with ``seed``."""
    if len(examples) < 2:
        raise ValueError(f"{len(examples)} distinct example(s): at least 2 are needed to split")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    held = min(len(examples) - 1, max(1, round(len(examples) * test_size)))
    test = sorted(order[:held])
    train = sorted(order[held:])
    return [examples[i] for i in train], [examples[i] for i in test]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-data", required=True, type=Path)
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--train-data", required=True, type=Path)
    parser.add_argument("--test-data", required=True, type=Path)
    args = parser.parse_args(argv)
    if not 0 < args.test_size < 1:
        return fail(f"--test-size {args.test_size}: a fraction between 0 and 1 is needed")
    try:
        examples = read_examples(jsonl_file(args.raw_data))
        distinct = deduplicate(examples)
        train, test = split(distinct, args.test_size, args.seed)
    except (OSError, ExampleError, ValueError) as error:
        return fail(str(error))
    write_examples(output_file(args.train_data, EXAMPLES_FILE), train)
    write_examples(output_file(args.test_data, EXAMPLES_FILE), test)
    counts = {
        "examples": len(examples),
        "duplicates": len(examples) - len(distinct),
        "train": len(train),
        "test": len(test),
    }
    output_file(args.train_data, PREP_FILE).write_text(json.dumps(counts, indent=2))
    print(" ".join(f"{name}={value}" for name, value in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
