"""The task metrics of generated completions against their references.

Texts are compared as SQuAD's evaluation compares answers: lower case,
punctuation and the articles a, an, the removed, whitespace collapsed, then
split on whitespace into tokens.

- ``exact_match``: 1 when the normalised texts are equal, else 0;
- ``token_f1``: the F1 of the two texts' tokens as bags (multisets);
- ``rouge_l``: ROUGE-L's F1 (Lin, 2004) with beta 1: from the longest common
  subsequence of the two token lists, its length over the generated text's
  (precision) and over the reference's (recall).

Each is averaged over the examples by ``task_metrics``.
"""

from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def tokens(text: str) -> list[str]:
    """``text`` normalised (see the module docstring) and split into tokens."""
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split()


def exact_match(generated: str, reference: str) -> float:
    return float(tokens(generated) == tokens(reference))


def token_f1(generated: str, reference: str) -> float:
    ours, theirs = tokens(generated), tokens(reference)
    if not ours or not theirs:
        return float(ours == theirs)
    common = sum((Counter(ours) & Counter(theirs)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(ours), common / len(theirs)
    return 2 * precision * recall / (precision + recall)


def rouge_l(generated: str, reference: str) -> float:
    ours, theirs = tokens(generated), tokens(reference)
    if not ours or not theirs:
        return float(ours == theirs)
    # The longest common subsequence, one row of the table at a time.
    previous = [0] * (len(theirs) + 1)
    for word in ours:
        current = [0]
        for column, other in enumerate(theirs, start=1):
            current.append(
                previous[column - 1] + 1
                if word == other
                else max(previous[column], current[column - 1])
            )
        previous = current
    common = previous[-1]
    if common == 0:
        return 0.0
    precision, recall = common / len(ours), common / len(theirs)
    return 2 * precision * recall / (precision + recall)


def task_metrics(generated: list[str], references: list[str]) -> dict[str, float]:
    """The mean of each measure over the pairs (one generated text per reference)."""
    if len(generated) != len(references) or not references:
        raise ValueError("one generated text per reference, and at least one, are needed")
    count = len(references)
    return {
        name: sum(measure(g, r) for g, r in zip(generated, references, strict=True)) / count
        for name, measure in (
            ("exact_match", exact_match),
            ("token_f1", token_f1),
            ("rouge_l", rouge_l),
        )
    }
