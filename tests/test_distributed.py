"""Two CPU processes (gloo) under `accelerate launch`: every layer of every rank sees the right preference."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "scripts" / "ddp_dpo.py"


@pytest.mark.parametrize("granularity", ["batch", "sample"])
def test_two_process_training_with_accelerate_launch(tmp_path, granularity):
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
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{i}.json").read_text()) for i in range(2)]
    assert all(rank["world"] == 2 for rank in ranks)
    for rank in ranks:
        # 3 steps x every adapted layer x (forward + checkpoint recompute)
        assert len(rank["seen"]) == 3 * rank["layers"] * 2
        assert all(
            abs(sum(row) - 1) < 1e-5 for seen in rank["seen"] for row in (seen if granularity == "sample" else [seen])
        )
    if granularity == "batch":
        assert ranks[0]["seen"] == ranks[1]["seen"]  # one preference per batch, identical on all ranks
        assert len({tuple(s) for s in ranks[0]["seen"]}) == 3  # a new one each step
    else:
        assert all(len(seen) == 4 for seen in ranks[0]["seen"])  # 2 pairs -> 4 rows, one preference per pair
        assert ranks[0]["seen"] != ranks[1]["seen"]  # each rank draws its own rows
