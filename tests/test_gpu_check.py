"""benchmarks/gpu_check.py, the one command a GPU session runs, works end to end on CPU:
the flash/bf16 attention timing, two real training runs, and the reload-and-score child
process with CUDA hidden (its numbers are compared, not assumed)."""

import json
from pathlib import Path

import pytest

from helpers import write_synthetic

from benchmarks import gpu_check

SMALL = ["split.test_days=300", "split.val_days=300", "split.min_train_days=200"]


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu")
    data = write_synthetic(tmp / "planted.csv", "planted", days=1200, seed=4)
    argv = [
        "--device",
        "cpu",
        "--tiny",
        "--repeat",
        "1",
        "--batch",
        "2",
        "--data",
        str(data),
        "--out",
        str(tmp / "out"),
        "--runs-dir",
        str(tmp / "runs"),
    ]
    for o in SMALL:
        argv += ["-o", o]
    rc = gpu_check.main(argv)
    return rc, json.loads((tmp / "out" / "gpu_check.json").read_text()), (tmp / "out" / "gpu_check.md").read_text()


@pytest.mark.slow
def test_every_check_runs_and_passes_on_cpu(checked):
    rc, result, md = checked
    assert rc == 0 and result["ok"]
    att = result["attention"]
    assert att["flash_ok"] is True and att["fp32"]["ms_per_step"] > 0 and att["bf16_flash"]["days_per_s"] > 0
    assert [t["config"] for t in result["training"]] == ["transformer_h200", "gru"]
    for t in result["training"]:
        assert t["epochs"] == 2 and t["device_in_manifest"] == "cpu" and t["verdict"] in ("APPROVED", "FAILED")
        assert Path(t["run"], "model_checkpoint.pt").is_file()
        cpu = t["cpu_load"]
        # the child process saw no CUDA, re-scored the test window and predicted the next day
        assert cpu["cuda_visible"] is False and cpu["ok"] and cpu["max_abs_prob_diff"] <= gpu_check.CPU_TOLERANCE
        assert cpu["predicted_day"] > "1990"
    assert "| transformer_h200 | 2 |" in md and "all checks passed: True" in md


@pytest.mark.slow
def test_a_reload_that_disagrees_fails_the_check(checked, tmp_path):
    """Corrupt the probabilities the 'device' wrote: the CPU reload must notice."""
    import numpy as np

    _, result, _ = checked
    run = Path(result["training"][1]["run"])
    npz = run / "predictions.npz"
    with np.load(npz, allow_pickle=False) as z:
        arrays = dict(z)
    arrays["gru__logits_test"] = arrays["gru__logits_test"] + 0.5
    np.savez_compressed(npz, **arrays)
    got = gpu_check.cpu_load_check(str(run))
    assert got["ok"] is False and got["max_abs_prob_diff"] > 0.01


def test_cuda_without_a_gpu_is_refused_with_exit_2(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert gpu_check.main(["--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
