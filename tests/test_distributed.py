"""Two CPU processes (gloo) under `accelerate launch`: every layer of every rank sees the right preference."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "scripts" / "ddp_train.py"


def launch(tmp_path: Path, granularity: str, kind: str) -> list[dict]:
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        str(SCRIPT),
        str(tmp_path),
        granularity,
        kind,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{i}.json").read_text()) for i in range(2)]
    for rank in ranks:
        assert rank["world"] == 2
        # 3 steps x every adapted layer x (forward + gradient-checkpoint recompute)
        assert len(rank["seen"]) == 3 * rank["layers"] * 2
        rows = [row for seen in rank["seen"] for row in (seen if isinstance(seen[0], list) else [seen])]
        assert all(abs(sum(row) - 1) < 1e-5 for row in rows)
    return ranks


@pytest.mark.parametrize("kind", ["dpo", "grpo"])
def test_per_batch_preference_is_identical_on_all_ranks(tmp_path, kind):
    ranks = launch(tmp_path, "batch", kind)
    assert ranks[0]["seen"] == ranks[1]["seen"]
    assert len({json.dumps(seen) for seen in ranks[0]["seen"]}) == 3  # a new preference each step


def test_per_sample_dpo_preferences_differ_between_ranks(tmp_path):
    ranks = launch(tmp_path, "sample", "dpo")
    assert all(len(seen) == 4 for seen in ranks[0]["seen"])  # 2 pairs -> 4 rows, one preference per pair
    assert ranks[0]["seen"] != ranks[1]["seen"]


def test_prompt_group_straddling_ranks_shares_one_preference(tmp_path):
    ranks = launch(tmp_path, "group", "grpo")
    assert ranks[0]["seen"] == ranks[1]["seen"]  # the 4 completions of a prompt sit on both ranks
    assert all(seen[0] == seen[1] for seen in ranks[0]["seen"])
