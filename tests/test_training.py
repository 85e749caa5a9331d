"""Training: the recipe learns, a killed run resumes exactly, mirrored strategy, checkpoint state, bad inputs."""
import csv
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lanmsff_edge.errors import UserError

# tiny but real: width 0.25 (26,710 params), the synthetic set
TINY = dict(dataset="synthetic", width=0.25, augment="none", verbose=0)


class Crash(Exception):
    pass


def keras():
    from lanmsff_edge.keras import keras as module

    return module


def crash_after_first_epoch():
    class CrashCallback(keras().callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise Crash("simulated kill after epoch 1")

    return CrashCallback()


def iterations_at_train_begin(record):
    class Record(keras().callbacks.Callback):
        def on_train_begin(self, logs=None):
            record["iterations"] = int(self.model.optimizer.iterations.numpy())
            record["learning_rate"] = float(self.model.optimizer.learning_rate.numpy())

    return Record()


@pytest.mark.slow
def test_short_synthetic_training_beats_chance_and_writes_the_run(tmp_path, run_cli):
    from lanmsff_edge import train
    from lanmsff_edge.model import load_model

    out = tmp_path / "run"
    metrics = train(out=out, epochs=4, limit=600, batch_size=16, dropout=0.2, **TINY)
    # 8 balanced classes: chance is 12.5 %; 480 validation images make 20 % five standard deviations above it
    assert metrics["accuracy"] > 0.20, metrics["accuracy"]
    assert {p.name for p in out.iterdir()} >= {"model.keras", "config.json", "history.csv", "metrics.json",
                                               "confusion.png", "checkpoint.npz", "history.png"}
    with open(out / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert set(rows[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"] == "synthetic" and config["options"]["width"] == 0.25
    assert config["splits"]["train"]["size"] == 600 and config["splits"]["val"]["size"] == 480
    assert config["class_names"][0] == "neutral" and config["versions"]["tensorflow"]
    assert config["params"] == 26_710 and config["options"]["dropout"] == 0.2 and config["recipe"]["dropout"] == 0.2
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["accuracy"] == pytest.approx(metrics["accuracy"])
    best = saved["training"]["best_epoch"]
    assert float(rows[best - 1]["val_loss"]) == pytest.approx(min(float(r["val_loss"]) for r in rows))
    # model.keras holds the best weights, without optimizer; evaluating the run folder gives the same figure
    assert load_model(out / "model.keras").optimizer is None
    assert {layer.rate for layer in load_model(out / "model.keras").layers if "dropout" in layer.name} == {0.2}
    result = run_cli("evaluate", "--model", out, "--json", tmp_path / "again.json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "again.json").read_text())["accuracy"] == pytest.approx(metrics["accuracy"])


@pytest.mark.slow
def test_the_seed_fixes_the_initial_weights(tmp_path):
    """Same seed → the same starting point; another seed → another. (Trained weights are not bit-identical run to
    run: TensorFlow's CPU kernels vary in the last bits between processes.)"""
    from lanmsff_edge import train

    def initial_weights(name, seed):
        record = {}

        class Record(keras().callbacks.Callback):
            def on_train_begin(self, logs=None):
                record["weights"] = self.model.get_weights()
                raise Crash("the starting point is all this test needs: no epoch is trained")

        with pytest.raises(Crash):
            train(out=tmp_path / name, epochs=1, limit=32, batch_size=16, seed=seed, callbacks=[Record()], **TINY)
        return record["weights"]

    first, again, other = initial_weights("a", 0), initial_weights("b", 0), initial_weights("c", 1)
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    assert not all(np.array_equal(x, y) for x, y in zip(first, other))


@pytest.mark.slow
def test_killed_run_resumes_at_the_next_epoch_with_optimizer_state(tmp_path, run_cli):
    from lanmsff_edge import train
    from lanmsff_edge.artifacts import checkpoint as ckpt

    out = tmp_path / "run"
    options = dict(out=out, epochs=3, limit=64, batch_size=16, **TINY)  # 4 steps per epoch
    with pytest.raises(Crash):
        train(callbacks=[crash_after_first_epoch()], **options)
    saved = ckpt.load(out / "checkpoint.npz")
    assert saved.epoch == 1 and len(saved.state["history"]) == 1
    assert not (out / "model.keras").exists()

    # an unfinished run is usable: its best weights so far become best.keras, once
    result = run_cli("evaluate", "--model", out, "--limit", 16)
    assert result.exit_code == 0, result.output
    assert "unfinished training run: using its best weights so far (epoch 1 of 1)" in result.output
    from lanmsff_edge.model import load_model

    for got, want in zip(load_model(out / "best.keras").get_weights(), saved.best()):
        np.testing.assert_array_equal(got, want)
    made = (out / "best.keras").stat().st_mtime_ns
    assert run_cli("evaluate", "--model", out, "--limit", 16).exit_code == 0
    assert (out / "best.keras").stat().st_mtime_ns == made  # not rebuilt while the checkpoint is older

    with pytest.raises(UserError, match="already exists"):  # never clobber a run
        train(**options)

    record = {}
    metrics = train(out=out, resume=True, callbacks=[iterations_at_train_begin(record)], verbose=0)
    assert record["iterations"] == 4  # the optimizer continued, it was not rebuilt from zero
    assert record["learning_rate"] == pytest.approx(1e-3)
    final = ckpt.load(out / "checkpoint.npz")
    assert final.epoch == 3 and [row["epoch"] for row in final.state["history"]] == [1, 2, 3]
    assert final.state["history"][0] == saved.state["history"][0]  # epoch 1 was not trained again
    iteration = final.optimizer_names.index(next(n for n in final.optimizer_names if n.startswith("iteration")))
    assert int(final.optimizer_values[iteration]) == 12
    assert metrics["training"]["epochs_run"] == 3 and (out / "model.keras").exists()

    result = run_cli("train", "--out", out, "--resume")
    assert result.exit_code == 0, result.output
    assert "already finished all 3 epochs" in result.output


def test_resumable_callbacks_continue_their_counters(capsys):
    """The plateau and early-stopping counters survive on_train_begin's reset, so patience continues."""
    from lanmsff_edge.model import build_model
    from lanmsff_edge.training.callbacks import ResumableEarlyStopping, ResumablePlateau, schedule_status

    model = build_model(3, width=0.25)
    model.compile(keras().optimizers.Adam(1e-3), "categorical_crossentropy")
    plateau = ResumablePlateau(monitor="val_loss", factor=0.1, patience=8, state={
        "best": 1.5, "wait": 7, "cooldown_counter": 0})
    stopper = ResumableEarlyStopping(monitor="val_loss", patience=14, state={
        "best": 1.5, "wait": 13, "best_epoch": 3, "stopped_epoch": 0}, best_weights=model.get_weights())
    for callback in (plateau, stopper):
        callback.set_model(model)
        callback.on_train_begin()
    assert plateau.get_state() == {"best": 1.5, "wait": 7, "cooldown_counter": 0}
    assert schedule_status(17, plateau, stopper) == ("epoch 17: best val_loss 1.5000 at epoch 4; learning rate ×0.1 "
                                                     "after 1 more epoch(s) without a better one, early stop after 1; "
                                                     "checkpoint saved")
    for callback in (plateau, stopper):
        callback.on_epoch_end(17, {"val_loss": 2.0})  # no improvement: the 8th / 14th epoch without
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1e-4)
    assert model.stop_training and stopper.get_state()["stopped_epoch"] == 17
    assert schedule_status(18, plateau, stopper, saved=False).endswith("early stop after 0; stopping early")
    stopper.on_train_end()  # what Keras would print on stdout (verbose=1) is logged on stderr instead
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "epoch 18: val_loss no better for 8 epochs, learning rate 0.001 → 0.0001" in captured.err
    assert "early stopping at epoch 18; keeping the weights of epoch 4 (best val_loss)" in captured.err
    fresh = ResumablePlateau(monitor="val_loss", patience=8)
    fresh.set_model(model)
    fresh.on_train_begin()
    assert fresh.get_state()["wait"] == 0 and fresh.get_state()["best"] == "inf"


def test_progress_is_logged_on_stderr_every_few_seconds_and_at_each_epoch_end(capsys):
    """Keras' progress bar writes to stdout; ProgressLog says the same on stderr, at most every ``every`` s."""
    from lanmsff_edge.training.engine import ProgressLog

    now = [0.0]
    progress = ProgressLog(epochs=3, every=20, clock=lambda: now[0])
    progress.set_params({"steps": 75, "epochs": 3})
    progress.on_epoch_begin(1)
    for batch, at in enumerate([5.0, 21.0, 30.0, 41.5, 50.0]):
        now[0] = at
        progress.on_train_batch_end(batch, {"loss": 1.23456, "accuracy": 0.5})
    now[0] = 52.0
    progress.on_epoch_end(1, {"loss": 1.0, "accuracy": 0.6, "val_loss": 1.1, "val_accuracy": 0.55,
                              "learning_rate": 0.001})
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "epoch 2/3: batch 2/75, loss 1.2346  accuracy 0.5000 (21 s)",
        "epoch 2/3: batch 4/75, loss 1.2346  accuracy 0.5000 (42 s)",
        "epoch 2/3: 75 batches in 52 s, loss 1.0000  accuracy 0.6000  val_loss 1.1000  val_accuracy 0.5500"]
    quiet = ProgressLog(epochs=3, every=20, clock=lambda: now[0], epoch_lines=False)
    quiet.on_epoch_begin(0)
    quiet.on_epoch_end(0, {"loss": 1.0})
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_cli_train_keeps_stdout_free_of_progress(run_cli, tmp_path):
    """`train > out.txt` holds no Keras progress; the epochs are reported on stderr, and -q leaves none."""
    args = ("train", "--dataset", "synthetic", "--limit", 32, "--batch-size", 16, "--epochs", 1, "--width", 0.25,
            "--augment", "none")
    result = run_cli(*args, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "Epoch" not in result.stdout and "loss" not in result.stdout and "Restoring" not in result.stdout
    assert "epoch 1/1: 2 batches in" in result.stderr
    quiet = run_cli("-q", *args, "--out", tmp_path / "quiet")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == "" and "epoch" not in quiet.stderr


def test_checkpoint_round_trip_restores_weights_optimizer_and_lr(tmp_path):
    from lanmsff_edge.artifacts import checkpoint as ckpt
    from lanmsff_edge.model import build_model

    def compiled():
        model = build_model(3, width=0.25)
        model.compile(keras().optimizers.Adam(1e-3), "categorical_crossentropy")
        return model

    model = compiled()
    model.optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(0)
    for variable in model.optimizer.variables:  # a trained-looking optimizer state, without a slow fit
        variable.assign(rng.random(variable.shape).astype(variable.dtype.as_numpy_dtype) if variable.shape.rank
                        else 2)
    model.optimizer.learning_rate.assign(1e-4)
    best = [w + 1 for w in model.get_weights()]
    ckpt.save(ckpt.capture(model, {"epoch": 1}, best_weights=best), tmp_path / "c.npz")
    size = (tmp_path / "c.npz").stat().st_size

    other = compiled()
    loaded = ckpt.load(tmp_path / "c.npz")
    ckpt.restore(other, loaded)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), other.get_weights()))
    assert len(other.optimizer.variables) == len(loaded.optimizer_names) > 100
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(model.optimizer.variables,
                                                                   other.optimizer.variables))
    assert int(other.optimizer.iterations.numpy()) == 2
    assert float(other.optimizer.learning_rate.numpy()) == pytest.approx(1e-4)
    assert all(np.array_equal(a, b) for a, b in zip(loaded.best(), best))
    # best weights equal to the current ones are not stored twice
    ckpt.save(ckpt.capture(model, {"epoch": 1}, best_weights=model.get_weights()), tmp_path / "d.npz")
    assert ckpt.load(tmp_path / "d.npz").best_weights is None
    assert (tmp_path / "d.npz").stat().st_size < 0.8 * size  # weights + 2 Adam moments, not 4 copies


def test_batch_norm_recalibration_uses_inference_time_statistics():
    """After recalibration the moving statistics are those of the activations with dropout off."""
    from lanmsff_edge.model import build_model
    from lanmsff_edge.training.batchnorm import recalibrate_batch_norm

    model = build_model(3, width=0.25)
    x = np.random.default_rng(1).random((64, 64, 64, 1)).astype(np.float32)
    bn = model.get_layer("block3_c1_bn")  # right after block 2's dropout
    recalibrate_batch_norm(model, x, chunk=64)  # one chunk: the statistics of exactly this batch
    before_bn = keras().Model(model.input, bn.input)(x, training=False).numpy()
    assert np.allclose(bn.moving_mean.numpy(), before_bn.mean(axis=(0, 1, 2)), atol=1e-4)
    assert np.allclose(bn.moving_variance.numpy(), before_bn.var(axis=(0, 1, 2)), rtol=0.02, atol=1e-4)
    assert model.get_layer("block2_dropout").rate == 0.4 and bn.momentum == 0.99  # restored


def test_cli_train_bad_inputs(run_cli, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = run_cli("train", "--dataset", "synthetic", "--out", out)
    assert result.exit_code == 1 and "already exists" in result.output and "--resume" in result.output
    assert (out / "notes.txt").read_text() == "mine"

    result = run_cli("train", "--out", tmp_path / "absent", "--resume")
    assert result.exit_code == 1 and "does not exist" in result.output

    result = run_cli("train", "--out", out, "--resume")
    assert result.exit_code == 1 and "not a training run" in result.output

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"options": {"dataset": "synthetic", "width": 0.25, "massatt": True,
                                                             "pwfs": True}}))
    result = run_cli("train", "--out", run, "--resume", "--width", "0.5")
    assert result.exit_code == 1 and "width is 0.5 but the run was started with 0.25" in result.output
    result = run_cli("train", "--out", run, "--resume", "--no-massatt")
    assert result.exit_code == 1 and "massatt is False but the run was started with True" in result.output
    result = run_cli("train", "--out", run, "--resume", "--dropout", "0.1")  # a run from before --dropout: 0.4
    assert result.exit_code == 1 and "dropout is 0.1 but the run was started with 0.4" in result.output
    result = run_cli("train", "--dataset", "synthetic", "--dropout", "1", "--out", tmp_path / "d")
    assert result.exit_code == 2 and "--dropout" in result.output

    result = run_cli("train", "--dataset", "kdef", "--data", tmp_path, "--out", tmp_path / "k")
    assert result.exit_code == 1 and "--fold" in result.output
    result = run_cli("train", "--dataset", "ferplus", "--out", tmp_path / "f")
    assert result.exit_code == 1 and "needs --data" in result.output
    assert "Traceback" not in result.output


MIRRORED = textwrap.dedent("""
    import json, sys
    from lanmsff_edge.keras import tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from lanmsff_edge import train
    metrics = train("synthetic", out=sys.argv[1], epochs=1, limit=32, batch_size=16, width=0.25,
                    strategy="mirrored", augment="none", verbose=0)
    print("RESULT", json.dumps(metrics["training"]))
""")


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    """Logical devices must be set before TensorFlow initialises them: a fresh interpreter."""
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-c", MIRRORED, str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "mirrored over 2 CPU device(s)" in done.stderr  # a log line: stderr (the package logger)
    summary = json.loads(done.stdout.split("RESULT", 1)[1])
    assert summary["replicas"] == 2 and summary["epochs_run"] == 1
    assert json.loads((out / "config.json").read_text())["strategy"] == {"name": "mirrored", "replicas": 2}
    assert (out / "model.keras").exists() and (out / "checkpoint.npz").exists()


MULTIWORKER = textwrap.dedent("""
    import hashlib, json, sys
    from lanmsff_edge.keras import keras
    from lanmsff_edge import train

    out, report, resume = sys.argv[1], sys.argv[2], sys.argv[3] == "resume"
    epochs = []

    class Report(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            epochs.append(epoch + 1)

        def on_train_end(self, logs=None):  # every worker reads the weights: a read can be a collective
            digest = hashlib.sha256()
            for weight in self.model.get_weights():
                digest.update(weight.tobytes())
            with open(report, "w") as handle:
                json.dump({"weights": digest.hexdigest(), "epochs": epochs}, handle)

    if resume:
        metrics = train(out=out, resume=True, epochs=2, callbacks=[Report()], threads=1, verbose=0)
    else:
        metrics = train("synthetic", out=out, epochs=1, limit=32, batch_size=16, width=0.25, augment="none",
                        strategy="multiworker", callbacks=[Report()], threads=1, verbose=0)
    print("RESULT", json.dumps(metrics["training"]))
""")


def _free_ports(count):
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for handle in sockets:
            handle.bind(("127.0.0.1", 0))
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


def _two_workers(folders, reports, stage, scratch, timeout=300):
    """Worker 0 (the chief) and worker 1 on 127.0.0.1, one process each, the run in ``folders[i]``; both are
    killed when the pair is not done within ``timeout`` seconds."""
    import os

    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers = []
    for index in (0, 1):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   TMPDIR=str(scratch[index]), CUDA_VISIBLE_DEVICES="")
        workers.append(subprocess.Popen([sys.executable, "-c", MULTIWORKER, str(folders[index]), str(reports[index]),
                                         stage], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=timeout)[0])
    except subprocess.TimeoutExpired:
        for worker in workers:
            worker.kill()
        pytest.fail(f"two-worker {stage} run did not finish within {timeout} s")
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    return [json.loads(output.split("RESULT", 1)[1]) for output in outputs], outputs


@pytest.mark.slow
def test_two_workers_on_loopback_train_one_model_and_resume(tmp_path):
    """MultiWorkerMirroredStrategy with two worker processes on 127.0.0.1 (TF_CONFIG): both end with the same
    weights, only the chief (worker 0) writes the run folder, and the run resumes at its next epoch. The other
    worker's folder stands for the same run folder on a second machine: a copy of the chief's, never written."""
    import shutil

    from lanmsff_edge.artifacts import checkpoint as ckpt

    chief, other = tmp_path / "chief" / "run", tmp_path / "other" / "run"
    reports = [tmp_path / "report0.json", tmp_path / "report1.json"]
    scratch = [tmp_path / "tmp0", tmp_path / "tmp1"]
    for folder in scratch:
        folder.mkdir()

    summaries, outputs = _two_workers([chief, other], reports, "fresh", scratch)
    assert all("multiworker: 2 workers from TF_CONFIG" in output for output in outputs), outputs[0][-2000:]
    first = [json.loads(report.read_text()) for report in reports]
    assert first[0]["weights"] == first[1]["weights"] and first[0]["epochs"] == first[1]["epochs"] == [1]
    assert [summary["replicas"] for summary in summaries] == [2, 2]
    assert {p.name for p in chief.iterdir()} >= {"config.json", "checkpoint.npz", "history.csv", "model.keras",
                                                 "metrics.json"}
    assert json.loads((chief / "config.json").read_text())["strategy"] == {"name": "multiworker", "replicas": 2}
    assert not other.exists()  # the non-chief wrote nothing of the run ...
    assert not list(scratch[1].iterdir())  # ... and removed what it had to write somewhere
    assert ckpt.load(chief / "checkpoint.npz").epoch == 1

    shutil.copytree(chief, other)  # the second machine gets the run folder (as a shared disk would give it)
    before = {p.name: p.read_bytes() for p in other.iterdir()}
    summaries, outputs = _two_workers([chief, other], reports, "resume", scratch)
    second = [json.loads(report.read_text()) for report in reports]
    assert second[0]["weights"] == second[1]["weights"] != first[0]["weights"]
    assert second[0]["epochs"] == second[1]["epochs"] == [2]  # epoch 1 was not trained again
    resumed = ckpt.load(chief / "checkpoint.npz")
    assert resumed.epoch == 2 and [row["epoch"] for row in resumed.state["history"]] == [1, 2]
    assert [summary["epochs_run"] for summary in summaries] == [2, 2]
    assert {p.name: p.read_bytes() for p in other.iterdir()} == before  # still untouched by the non-chief


@pytest.mark.slow
def test_a_checkpoint_in_the_format_of_runs_already_on_disk_resumes_exactly(tmp_path):
    """A run folder as the code before the fit engine wrote it (checkpoint.npz format 1, written here with plain
    numpy, key by key, as training_runs/fer2013 holds it): the resumed run continues its optimizer (iteration
    count, learning rate), its plateau / early-stopping counters, its best weights and its history rows."""
    from lanmsff_edge import train
    from lanmsff_edge.artifacts import checkpoint as ckpt
    from lanmsff_edge.data import load_dataset
    from lanmsff_edge.model import build_model

    classes = list(load_dataset("synthetic", limit=32).class_names)
    model = build_model(len(classes), width=0.25)
    model.compile(keras().optimizers.Adam(1e-3), "categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(100)
    weights = model.get_weights()
    best = [w + 0.5 for w in weights]
    row = {"epoch": 1, "loss": 2.5, "accuracy": 0.125, "val_loss": 2.25, "val_accuracy": 0.25, "lr": 0.0001}
    state = {"epoch": 1, "seed": 0, "history": [row],
             "plateau": {"best": 0.0, "wait": 3, "cooldown_counter": 0},  # val_loss 0: nothing can beat it
             "early_stopping": {"best": 0.0, "wait": 3, "best_epoch": 0, "stopped_epoch": 0},
             "stopped_early": False, "learning_rate": 1e-4, "format": 1}
    out = tmp_path / "run"
    out.mkdir()
    arrays = {"state": np.array(json.dumps(state)),
              "optimizer_variable_names": np.array(json.dumps([v.name for v in model.optimizer.variables]))}
    arrays.update({f"weight_{i}": w for i, w in enumerate(weights)})
    arrays.update({f"optimizer_{i}": np.asarray(v.numpy()) for i, v in enumerate(model.optimizer.variables)})
    arrays.update({f"best_{i}": w for i, w in enumerate(best)})
    np.savez(out / "checkpoint.npz", **arrays)
    options = {"dataset": "synthetic", "data": None, "epochs": 1, "batch_size": 16, "seed": 0, "width": 0.25,
               "massatt": True, "pwfs": True, "massatt_form": "code", "fold": None, "strategy": "default",
               "augment": "none", "limit": 32, "learning_rate": 0.001, "bn_recalibration": True}
    (out / "config.json").write_text(json.dumps({"options": options, "class_names": classes}))
    (out / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,lr\n1,2.5,0.125,2.25,0.25,0.0001\n")

    record = {}
    train(out=out, resume=True, epochs=2, callbacks=[iterations_at_train_begin(record)], verbose=0)
    assert record == {"iterations": 100, "learning_rate": pytest.approx(1e-4)}
    final = ckpt.load(out / "checkpoint.npz")
    assert final.epoch == 2 and final.state["history"][0] == row and final.state["history"][1]["epoch"] == 2
    assert final.state["plateau"]["wait"] == 4 and final.state["early_stopping"]["wait"] == 4
    assert final.state["early_stopping"]["best"] == 0.0 and final.best_epoch == 1
    assert final.state["learning_rate"] == pytest.approx(1e-4)
    iteration = final.optimizer_names.index(next(n for n in final.optimizer_names if n.startswith("iteration")))
    assert int(final.optimizer_values[iteration]) == 102  # 32 images, batch 16: two more steps
    assert all(np.array_equal(a, b) for a, b in zip(final.best(), best))  # epoch 1's best weights are still best
    with open(out / "history.csv") as handle:
        assert [int(r["epoch"]) for r in csv.DictReader(handle)] == [1, 2]


def test_history_is_rows_and_old_qat_checkpoints_with_lists_still_resume(tmp_path):
    from lanmsff_edge.artifacts import checkpoint as ckpt
    from lanmsff_edge.quantize.qat_checkpoint import open_for
    from lanmsff_edge.training import engine, history

    columns = {"loss": [1.5, 1.25], "accuracy": [0.5, 0.625], "val_loss": [1.75, 1.5], "val_accuracy": [0.4, 0.45]}
    settings = {"model_weights_sha256": "abc", "seed": 0}
    path = tmp_path / "q.qat_checkpoint.npz"  # as QAT checkpoints were written before: a dict of lists
    ckpt.save(ckpt.Checkpoint(state={"epoch": 2, "history": columns, "settings": settings, "best": 0.45,
                                     "best_epoch": 2}, weights=[np.zeros(2)], optimizer_names=[],
                              optimizer_values=[]), path)
    loaded = open_for(path, True, settings, epochs=3)
    assert loaded.best_epoch == 2
    initial_epoch, state = engine.start(loaded, 7, {"settings": settings})
    assert initial_epoch == 2 and [row["epoch"] for row in state["history"]] == [1, 2]
    assert state["history"][1] == {"epoch": 2, "loss": 1.25, "accuracy": 0.625, "val_loss": 1.5, "val_accuracy": 0.45}
    assert history.columns(state["history"]) == columns  # the quantize report's view is unchanged
    assert history.row(0, {"loss": np.float32(0.5), "lr": np.float32(1e-3)}) == {"epoch": 1, "loss": 0.5,
                                                                                  "lr": 0.001}
    keep = engine.KeepBest()
    keep.restore(state, ["best weights"])
    assert keep.get_state() == {"best": 0.45, "best_epoch": 2} and keep.best_weights == ["best weights"]
    assert engine.KeepBest().get_state() == {"best": None, "best_epoch": None}


def test_the_augmentation_choice_is_checked_in_one_place():
    from lanmsff_edge.training import config as cfg
    from lanmsff_edge.training.settings import changed_settings

    with pytest.raises(UserError, match="unknown augmentation 'mixup': choose one of online, paper, none"):
        cfg.resolve({"dataset": "synthetic", "augment": "mixup"})
    assert changed_settings({"a": 1, "b": "x", "c": None}, {"a": 1.0, "b": "y", "c": 3}, ["a", "b", "c"]) == [
        ("b", "x", "y"), ("c", None, 3)]
