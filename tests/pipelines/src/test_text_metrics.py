import pytest
from text_metrics import exact_match, rouge_l, task_metrics, token_f1, tokens


def test_texts_are_compared_after_squads_normalisation():
    assert tokens("The  Forty-Two!") == ["fortytwo"]
    assert exact_match("forty two.", "Forty two") == 1.0
    assert exact_match("forty two", "forty three") == 0.0


def test_token_f1_counts_shared_tokens_as_bags():
    # 2 shared of 3 generated and 4 reference tokens: P 2/3, R 1/2
    assert token_f1("one hundred one", "one thousand hundred two") == pytest.approx(4 / 7)
    assert token_f1("seven", "eight") == 0.0
    assert token_f1("", "") == 1.0 and token_f1("", "x") == 0.0


def test_rouge_l_is_the_f1_of_the_longest_common_subsequence():
    # the longest common subsequence is "c e" (2 tokens): P 2/5, R 2/3
    assert rouge_l("b c d e g", "c e f") == pytest.approx(2 * (2 / 5) * (2 / 3) / (2 / 5 + 2 / 3))
    # ... and here "one three five" (3): P 3/5, R 3/4
    assert rouge_l("one two three four five", "one three five six") == pytest.approx(
        2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4)
    )
    # order matters to ROUGE-L, not to token F1
    assert rouge_l("two one", "one two") == pytest.approx(0.5)
    assert token_f1("two one", "one two") == 1.0


def test_the_task_metrics_are_means_over_the_pairs():
    measured = task_metrics(["twelve", "one hundred"], ["twelve", "one hundred one"])
    assert measured["exact_match"] == 0.5
    assert measured["token_f1"] == pytest.approx((1 + 0.8) / 2)
    with pytest.raises(ValueError, match="one generated text per reference"):
        task_metrics(["a"], [])
