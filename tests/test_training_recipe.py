"""The recipe options of issue 38: --schedule cosine, --label-smoothing, --precision (recorded, resumable)."""
import csv
import json

import pytest

from lanmsff_edge.errors import UserError

TINY = dict(dataset="synthetic", width=0.25, augment="none", verbose=0)


def test_cosine_schedule_warms_up_then_decays_to_its_floor():
    from lanmsff_edge.training.callbacks import cosine_learning_rate
    from lanmsff_edge.training.config import COSINE_FLOOR, cosine_warmup

    rates = [cosine_learning_rate(epoch, 1e-3, 30) for epoch in range(30)]
    warmup = cosine_warmup(30)
    assert warmup == 2
    assert rates[:3] == pytest.approx([1e-3 / 3, 2e-3 / 3, 1e-3])  # linear up to the peak
    assert all(later < earlier for earlier, later in zip(rates[2:], rates[3:]))  # then strictly down
    assert rates[-1] == pytest.approx(COSINE_FLOOR * 1e-3)
    assert cosine_warmup(3) == 0 and cosine_learning_rate(0, 1e-3, 3) == pytest.approx(1e-3)


def test_default_precision_follows_the_hardware(tmp_path):
    from lanmsff_edge.training.precision import cpu_flags, default_precision

    assert default_precision(flags={"avx2", "fma"}, gpus=[]) == "float32"
    assert default_precision(flags={"avx2", "avx512_bf16"}, gpus=[]) == "mixed_bfloat16"
    assert default_precision(flags={"amx_bf16"}, gpus=[]) == "mixed_bfloat16"
    assert default_precision(flags=set(), gpus=["GPU:0"]) == "mixed_bfloat16"
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512_bf16\n")
    assert cpu_flags(info) == {"fpu", "sse", "avx512_bf16"}
    assert cpu_flags(tmp_path / "absent") == set()


def test_recipe_options_are_checked_recorded_and_fixed_on_resume():
    from lanmsff_edge.training import config as cfg

    options = cfg.resolve({"dataset": "synthetic", "label_smoothing": 0.1, "schedule": "cosine",
                           "precision": "float32"})
    recipe = cfg.recipe(options)
    assert recipe["loss"].endswith("label smoothing 0.1") and "reduce_lr_on_plateau" not in recipe
    assert recipe["cosine_decay"]["epochs"] == options["epochs"] and recipe["precision"] == "float32"
    with pytest.raises(UserError, match="--schedule"):
        cfg.resolve({"dataset": "synthetic", "schedule": "step"})
    with pytest.raises(UserError, match="--label-smoothing"):
        cfg.resolve({"dataset": "synthetic", "label_smoothing": 1.0})
    with pytest.raises(UserError, match="--precision"):
        cfg.resolve({"dataset": "synthetic", "precision": "float16"})
    saved = {"options": dict(options)}
    with pytest.raises(UserError, match="precision is 'mixed_bfloat16' but the run was started with 'float32'"):
        cfg.resolve({"precision": "mixed_bfloat16"}, saved)
    with pytest.raises(UserError, match="schedule"):
        cfg.resolve({"schedule": "plateau"}, saved)
    # a run from before these options existed resumes as it was trained: float32, plateau, no smoothing
    old = {"options": {key: value for key, value in options.items()
                       if key not in ("precision", "schedule", "label_smoothing")}}
    resumed = cfg.resolve({"precision": "float32"}, old)
    assert (resumed["precision"], resumed["schedule"], resumed["label_smoothing"]) == ("float32", "plateau", 0.0)


@pytest.mark.slow
def test_cosine_run_follows_its_schedule_and_a_mixed_run_ships_float32(tmp_path):
    from lanmsff_edge import train
    from lanmsff_edge.keras import keras
    from lanmsff_edge.model import load_model
    from lanmsff_edge.training.callbacks import cosine_learning_rate

    out = tmp_path / "run"
    train(out=out, epochs=5, limit=64, batch_size=16, schedule="cosine", label_smoothing=0.1,
          precision="mixed_bfloat16", learning_rate=1e-3, **TINY)
    with open(out / "history.csv") as handle:
        rates = [float(row["lr"]) for row in csv.DictReader(handle)]
    assert rates == pytest.approx([cosine_learning_rate(epoch, 1e-3, 5) for epoch in range(5)], rel=1e-5)
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["precision"] == "mixed_bfloat16" and config["recipe"]["precision"] == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"  # the policy does not leak out of train()
    model = load_model(out / "model.keras")
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
