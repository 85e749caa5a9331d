"""Training and inference throughput of LANMSFF on this machine (images/s at a given batch size).

    python benchmarks/throughput.py                    # full model, batch 32
    python benchmarks/throughput.py --width 0.5 --steps 30 --json out.json

Times Keras' compiled train step (``train_on_batch``: forward, backward, Adam update — what ``fit`` runs per
batch) and the inference step (``predict_on_batch``) on random 64×64×1 inputs, after warm-up steps that pay
for tracing. Reports the median and the interquartile range of the per-step times; absolute figures on a shared
machine are noise-prone (GUIDE §4), compare only figures taken in one run.
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def step_times(step, steps, warmup):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return np.asarray(times)


def summarise(times, batch):
    q1, median, q3 = np.percentile(times, [25, 50, 75])
    return {"median_step_ms": 1e3 * median, "iqr_step_ms": [1e3 * q1, 1e3 * q3],
            "images_per_s": batch / median, "images_per_s_range": [batch / q3, batch / q1], "steps": len(times)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, help="TensorFlow intra-op threads (default: all cores)")
    parser.add_argument("--json", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    from lanmsff_edge.keras import keras, tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    from lanmsff_edge.model import build_model

    model = build_model(args.classes, width=args.width)
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((args.batch_size, 64, 64, 1), dtype=np.float32)
    y = np.eye(args.classes, dtype=np.float32)[rng.integers(0, args.classes, args.batch_size)]

    training = summarise(step_times(lambda: model.train_on_batch(x, y), args.steps, args.warmup), args.batch_size)
    inference = summarise(step_times(lambda: model.predict_on_batch(x), args.steps, args.warmup), args.batch_size)
    result = {"model": model.name, "params": int(model.count_params()), "batch_size": args.batch_size,
              "training": training, "inference": inference, "cpu_count": os.cpu_count(),
              "load_average": list(os.getloadavg()), "tensorflow": tf.__version__,
              "machine": platform.machine(), "devices": [d.name for d in tf.config.list_logical_devices()]}

    print(f"{model.name}: {result['params']:,} params, batch {args.batch_size}, {os.cpu_count()} CPUs, "
          f"load average {result['load_average'][0]:.1f}, TensorFlow {tf.__version__}")
    print(f"{'':<10}{'images/s':>10}{'ms/step':>10}  interquartile images/s")
    for name, figures in (("training", training), ("inference", inference)):
        low, high = figures["images_per_s_range"]
        print(f"{name:<10}{figures['images_per_s']:>10.1f}{figures['median_step_ms']:>10.1f}  {low:.1f}–{high:.1f}")
    if args.json:
        from lanmsff_edge.atomic import write_text

        write_text(args.json, json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
