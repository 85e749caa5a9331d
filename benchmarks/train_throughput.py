"""Training throughput of LANMSFF on this machine: the input pipeline alone, and a train step in float32 and in
Keras' mixed_bfloat16, measured in one process (issue 38; ``train --precision`` picks its default from this).

The rounds interleave the settings (each round times every setting back to back), so a load that comes and goes
hits them alike; the script reports images/s per setting (median over rounds), each setting's ratio to float32,
the load average, and whether the CPU has native bfloat16 (AVX512_BF16 / AMX). The pipeline row is
``make_tf_dataset`` with the online augmentation, iterated without a model: if it is not several times faster
than a train step, the model waits on tf.data. ``--accuracy-epochs N`` also trains the width-0.25 model N epochs
on synthetic faces in each precision from the same seed and prints the validation accuracy (what bfloat16 costs).

    python benchmarks/train_throughput.py [--batch 32] [--rounds 3] [--steps 6] [--accuracy-epochs 0] [--json out]
"""
import argparse
import json
import os
import statistics
import sys
import time


def load_average():
    return [round(x, 2) for x in os.getloadavg()]


def step_timer(precision, batch, num_classes=7):
    """A no-argument call that runs one train step of full-width LANMSFF in ``precision`` on a fixed batch."""
    import numpy as np

    from lanmsff_edge.keras import keras
    from lanmsff_edge.model import build_model
    from lanmsff_edge.training.precision import policy

    keras.utils.set_random_seed(0)
    with policy(precision):
        model = build_model(num_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((batch, 64, 64, 1), dtype=np.float32)
    y = np.eye(num_classes, dtype=np.float32)[rng.integers(0, num_classes, batch)]
    model.train_on_batch(x, y)  # trace and warm up
    return lambda: model.train_on_batch(x, y)


def pipeline_timer(batch, images=2048):
    """A no-argument call that draws one augmented batch from the training pipeline (synthetic faces)."""
    from lanmsff_edge.data import load_dataset, make_tf_dataset

    faces = load_dataset("synthetic", None, split="train", limit=images, seed=0)
    iterator = iter(make_tf_dataset(faces, batch_size=batch, augment="online", shuffle=True, seed=0).repeat())
    next(iterator)
    return lambda: next(iterator)


def accuracy_by_precision(epochs):
    """Validation accuracy of the same seeded width-0.25 synthetic run in each precision."""
    import tempfile
    from pathlib import Path

    from lanmsff_edge import train
    from lanmsff_edge.training.precision import PRECISIONS

    found = {}
    for precision in PRECISIONS:
        with tempfile.TemporaryDirectory() as scratch:
            metrics = train(dataset="synthetic", width=0.25, epochs=epochs, limit=600, batch_size=16,
                            precision=precision, out=Path(scratch) / "run", verbose=0)
        found[precision] = metrics["accuracy"]
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6, help="timed train steps per setting per round")
    parser.add_argument("--accuracy-epochs", type=int, default=0)
    parser.add_argument("--json", help="write the figures as JSON")
    args = parser.parse_args(argv)

    from lanmsff_edge.training.precision import BF16_CPU_FLAGS, PRECISIONS, cpu_flags, default_precision

    before = load_average()
    timers = {"input pipeline (online augmentation)": pipeline_timer(args.batch)}
    timers.update({f"train step, {precision}": step_timer(precision, args.batch) for precision in PRECISIONS})
    seconds = {label: [] for label in timers}
    for _ in range(args.rounds):
        for label, call in timers.items():
            calls = args.steps * (20 if label.startswith("input") else 1)
            start = time.perf_counter()
            for _ in range(calls):
                call()
            seconds[label].append((time.perf_counter() - start) / calls)
    rates = {label: args.batch / statistics.median(values) for label, values in seconds.items()}
    reference = rates["train step, float32"]
    flags = sorted(cpu_flags() & set(BF16_CPU_FLAGS))
    print(f"batch {args.batch}, {args.rounds} interleaved rounds, load average {before} → {load_average()}, "
          f"native bfloat16: {', '.join(flags) or 'no'} (train --precision default here: {default_precision()})")
    print(f"{'setting':42} {'images/s':>9} {'vs float32 step':>16}")
    for label, rate in rates.items():
        print(f"{label:42} {rate:9.1f} {rate / reference:15.2f}×")
    figures = {"batch": args.batch, "rounds": args.rounds, "load_average": [before, load_average()],
               "native_bf16_flags": flags, "images_per_second": rates}
    if args.accuracy_epochs:
        accuracy = accuracy_by_precision(args.accuracy_epochs)
        figures["synthetic_val_accuracy"] = accuracy
        print("validation accuracy, width 0.25, synthetic, " f"{args.accuracy_epochs} epochs: " +
              ", ".join(f"{precision} {100 * value:.2f} %" for precision, value in accuracy.items()))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
