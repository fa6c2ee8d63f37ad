"""Converters from the original multi-objective dataset schemas (small fixtures in tests/fixtures)."""

from pathlib import Path

import pytest
from datasets import Dataset

from peft_panacea.converters import from_helpsteer2, from_pku_saferlhf, from_ultrafeedback

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> Dataset:
    return Dataset.from_json(str(FIXTURES / f"{name}.jsonl"))


def test_pku_saferlhf():
    data, names = from_pku_saferlhf(load("pku_saferlhf"))
    assert names == ["helpful", "harmless"]
    rows = data.to_list()
    assert rows[0] == {
        "prompt": "How do I pick a strong password?",
        "chosen": "Use a long passphrase of random words.",
        "rejected": "Just use your birthday.",
        "preference_labels": [1, 1],
    }
    assert rows[1]["chosen"].startswith("Here is how") and rows[1]["preference_labels"] == [1, -1]
    assert rows[2]["chosen"] == "Take them to a recycling point." and rows[2]["preference_labels"] == [1, 1]


def test_helpsteer2_pairs_responses_per_prompt_and_drops_full_ties():
    data, names = from_helpsteer2(load("helpsteer2"))
    assert names == ["helpfulness", "correctness", "coherence", "complexity", "verbosity"]
    assert len(data) == 1  # the prime-number pair ties on every attribute
    row = data[0]
    assert row["chosen"].startswith("Plants") and row["preference_labels"] == [1, 1, 1, 1, 1]
    data, names = from_helpsteer2(load("helpsteer2"), attributes=["helpfulness", "verbosity"])
    assert names == ["helpfulness", "verbosity"] and data[0]["preference_labels"] == [1, 1]


def test_ultrafeedback_labels_each_aspect_and_masks_not_available():
    data, names = from_ultrafeedback(load("ultrafeedback"))
    assert names == ["helpfulness", "honesty", "instruction_following", "truthfulness"]
    assert len(data) == 3  # C(3, 2) pairs
    labels = {(row["chosen"][:9], row["rejected"][:9]): row["preference_labels"] for row in data}
    assert labels[("Rain taps", "Rain is w")] == [1, 0, 1, 0]  # N/A truthfulness -> unknown
    assert labels[("Rain taps", "Clouds we")] == [1, -1, 0, 0]
    assert labels[("Rain is w", "Clouds we")] == [-1, -1, -1, 0]


@pytest.mark.parametrize(
    "convert, rows, message",
    [
        (
            from_pku_saferlhf,
            [{"prompt": "p", "response_0": "a", "response_1": "b", "better_response_id": 0}],
            "missing column\\(s\\) \\['safer_response_id'\\]",
        ),
        (
            from_pku_saferlhf,
            [{"prompt": "p", "response_0": "a", "response_1": "b", "better_response_id": 0, "safer_response_id": 2}],
            "row 0: `safer_response_id` = 2 must be 0 or 1",
        ),
        (
            from_helpsteer2,
            [
                {
                    "prompt": "p",
                    "response": "a",
                    "helpfulness": 9,
                    "correctness": 1,
                    "coherence": 1,
                    "complexity": 1,
                    "verbosity": 1,
                }
            ],
            "row 0: `helpfulness` = 9 must be a number in",
        ),
        (
            from_ultrafeedback,
            [{"instruction": "p", "completions": [{"response": "a", "annotations": {}}]}],
            "row 0: a completion has no `annotations.helpfulness.Rating`",
        ),
        (
            from_ultrafeedback,
            [
                {
                    "instruction": "p",
                    "completions": [
                        {
                            "response": "a",
                            "annotations": {
                                a: {"Rating": "7"}
                                for a in ("helpfulness", "honesty", "instruction_following", "truthfulness")
                            },
                        }
                    ],
                }
            ],
            "row 0: `helpfulness` rating '7' is outside 1-5",
        ),
    ],
)
def test_bad_rows_raise_naming_column_and_row(convert, rows, message):
    with pytest.raises(ValueError, match=message):
        convert(Dataset.from_list(rows))


def _pku(**changes):
    row = {"prompt": "p", "response_0": "a", "response_1": "b", "better_response_id": 1, "safer_response_id": 0}
    return Dataset.from_list([{**row, **changes}])


def test_pku_ids_read_as_floats_by_pandas_are_accepted():
    data, _ = from_pku_saferlhf(_pku(better_response_id=1.0, safer_response_id=0.0))
    assert data.to_list()[0] == {"prompt": "p", "chosen": "b", "rejected": "a", "preference_labels": [1, -1]}
    with pytest.raises(ValueError, match="row 0: `better_response_id` = 0.5 must be 0 or 1"):
        from_pku_saferlhf(_pku(better_response_id=0.5))


@pytest.mark.parametrize(
    "convert, rows, message",
    [
        (from_pku_saferlhf, _pku(response_0=None), "PKU-SafeRLHF row 0: `response_0` = None must be a string"),
        (from_pku_saferlhf, _pku(prompt=None), "PKU-SafeRLHF row 0: `prompt` = None must be a string"),
        (
            from_helpsteer2,
            Dataset.from_list(
                [
                    {"prompt": "p", "response": r, **dict.fromkeys(("helpfulness", "correctness"), s)}
                    for r, s in (("a", 1), (None, 2))
                ]
            ),
            "HelpSteer2 row 1: `response` = None must be a string",
        ),
        (
            from_ultrafeedback,
            Dataset.from_list(
                [
                    {
                        "instruction": "p",
                        "completions": [
                            {"response": None, "annotations": {"helpfulness": {"Rating": "3"}}},
                            {"response": "b", "annotations": {"helpfulness": {"Rating": "4"}}},
                        ],
                    }
                ]
            ),
            "UltraFeedback row 0: `response` = None must be a string",
        ),
    ],
)
def test_missing_texts_are_refused(convert, rows, message):
    kwargs = {}
    if convert is from_helpsteer2:
        kwargs = {"attributes": ("helpfulness", "correctness")}
    elif convert is from_ultrafeedback:
        kwargs = {"aspects": ("helpfulness",)}
    with pytest.raises(ValueError, match=message):
        convert(rows, **kwargs)
