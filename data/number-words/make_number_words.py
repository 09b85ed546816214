"""Writes number_words.jsonl: the text-generation sample, in the chat format
Azure ML's fine-tuning takes (one JSON object per line, ``messages`` with
roles). Each example asks for a whole number from 0 to 9999 in English words
and answers with them. Deterministic: the same file every time.

    python data/number-words/make_number_words.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ASKS = (
    "Write {n} in words.",
    "How do you say {n} in English words?",
    "Spell out the number {n}.",
)
SYSTEM = "You write numbers in English words, in lower case, with nothing else."
EXAMPLES = 1200


def words(n: int) -> str:
    """``n`` (0 to 9999) in English words: 342 is "three hundred forty-two"."""
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS[tens] + (f"-{ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{ONES[hundreds]} hundred" + (f" {words(rest)}" if rest else "")
    thousands, rest = divmod(n, 1000)
    return f"{words(thousands)} thousand" + (f" {words(rest)}" if rest else "")


def main() -> None:
    rng = random.Random(20261204)
    numbers = rng.sample(range(10_000), EXAMPLES)
    lines = []
    for n in numbers:
        record = {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": rng.choice(ASKS).format(n=n)},
                {"role": "assistant", "content": words(n)},
            ]
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    Path(__file__).with_name("number_words.jsonl").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
