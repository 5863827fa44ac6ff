"""Fine-tuning to a changed label set, freezing, and resuming an interrupted run."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from tasks.harness.checkpoint import load_checkpoint
from tasks.harness.finetune import freeze, init_from
from tests.harness.conftest import read_json, run_entry_point, toy_overrides
from tests.harness.toy_task import ToyModule

OPTIM = {
    "name": "adamw", "lr": 0.05, "weight_decay": 0.0, "betas": [0.9, 0.98], "eps": 1e-8, "fused": False,
    "momentum": 0.9,
    "scheduler": {"name": "constant", "warmup": 0.1, "initial_lr_ratio": 0.04, "min_lr_ratio": 0.01},
}  # fmt: skip


def toy_module(labels: list[str]) -> ToyModule:
    artifacts = {"labels": labels, "mean": torch.tensor(0.0), "std": torch.tensor(1.0)}
    model = {
        "encoder": {"hidden_size": 8},
        "fail_at_epoch": None,
        "dropout": 0.0,
        "predict": {"top_k": None},
    }
    return ToyModule(model=model, optim=OPTIM, artifacts=artifacts)


def test_init_from_keeps_rows_of_remaining_labels(base_run: Path) -> None:
    source = load_checkpoint(base_run / "checkpoints" / "last.ckpt")["state_dict"]  # neg, pos
    module = toy_module(["mid", "neg", "pos"])
    fresh_mid_row = module.head.weight[0].detach().clone()
    report = {name: (status, detail) for name, status, detail in init_from(module, str(base_run))}

    assert report["head.weight"] == ("remapped", "2/3 rows kept")
    assert report["encoder.embed.weight"][0] == "matched"
    assert report["encoder.norm.running_mean"][0] == "matched"
    torch.testing.assert_close(module.head.weight[1:], source["head.weight"])  # neg, pos moved
    torch.testing.assert_close(module.head.bias[1:], source["head.bias"])
    torch.testing.assert_close(module.head.weight[0], fresh_mid_row)  # new label: fresh init
    torch.testing.assert_close(module.encoder.embed.weight, source["encoder.embed.weight"])

    partial = toy_module(["neg", "pos"])
    before = partial.head.weight.detach().clone()
    rows = init_from(partial, {"path": str(base_run), "exclude": ["head.*"]})
    assert {status for name, status, _ in rows if name.startswith("head.")} == {"skipped"}
    torch.testing.assert_close(partial.head.weight, before)
    with pytest.raises(
        ValueError, match=r"'decoder' is not a submodule; top-level ones: \['encoder', 'head'\]"
    ):
        freeze(partial, ["decoder"])


def test_finetune_run_with_new_label_and_frozen_encoder(base_run: Path, train_toy) -> None:
    source = load_checkpoint(base_run / "checkpoints" / "last.ckpt")["state_dict"]
    run_dir = train_toy(
        "data=toy3", f"init_from={base_run}", "freeze=[encoder]", "trainer.max_epochs=1"
    )
    summary = read_json(run_dir / "summary.json")
    tuned = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert tuned["lstmkit"]["output_vocabularies"] == {"head.": ["mid", "neg", "pos"]}
    assert summary["trainable_parameters"] == 3 * 8 + 3, "only the head trains"
    for name, tensor in tuned["state_dict"].items():
        if name.startswith("encoder."):  # weights and batch-norm statistics untouched
            torch.testing.assert_close(tensor, source[name], rtol=0, atol=0, msg=name)
    assert not torch.equal(tuned["state_dict"]["head.weight"][1:], source["head.weight"])


def test_resume_from_last_continues_epochs_and_schedule(tmp_path: Path) -> None:
    args = [*toy_overrides(tmp_path), "trainer.max_epochs=3", "optim.scheduler.name=cosine"]
    with pytest.raises(SystemExit):  # the toy module crashes at the start of epoch 2
        run_entry_point("train", [*args, "model.fail_at_epoch=2"])
    (run_dir,) = (tmp_path / "outputs" / "toy" / "runs").iterdir()
    assert load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["epoch"] == 1
    run_entry_point("train", [*args, "ckpt_path=last"])
    assert list((tmp_path / "outputs" / "toy" / "runs").iterdir()) == [run_dir], "same run dir"

    summary = read_json(run_dir / "summary.json")
    assert summary["epochs"] == 3 and summary["global_step"] == 3 * 6
    last = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    (schedule,) = last["lr_schedulers"]
    assert schedule["last_epoch"] == 18, "the LR schedule continued, not restarted"
    assert schedule["_last_lr"][0] == pytest.approx(0.05 * 0.01), "cosine reached its floor"
    with open(run_dir / "metrics.csv", newline="") as handle:
        epochs = {row["epoch"] for row in csv.DictReader(handle) if row.get("train/loss_epoch")}
    assert epochs == {"0", "1", "2"}, "metrics from before the crash are kept"
