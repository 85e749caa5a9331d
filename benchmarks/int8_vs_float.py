"""int8 LANMSFF vs float32 TFLite vs float Keras at batch 1, one thread, measured in the same process.

Targets (issue 4): the int8 model at least 3.5× faster than the float32 TFLite model and at least 10× faster than
float Keras. The machine may be shared, so the ratios come from interleaved rounds: each round times the three
models back to back (``--runs`` calls each after ``--warmup``) and takes the ratio of their medians; the script
reports the median ratio over the rounds (judged against the target) with its range, the ratio of the fastest
calls (the least disturbed by other processes), the load average before and after, and first the
``lanmsff-edge bench`` table of the same three models. "float Keras" is the model in a ``tf.function`` (the
fastest float Keras path, and the bench's reference row); the eager call and ``model.predict`` on one image are
timed too, for context, and not judged.

    python benchmarks/int8_vs_float.py [--model lanmsff.keras] [--rounds 5] [--runs 60] [--threads 1] [--json out]

Without ``--model`` it builds the exact published LANMSFF (8 classes, untrained: speed does not depend on the
weights); the bench converts it to float32 and to int8 (PTQ, calibrated on synthetic faces).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

TARGETS = {"float32 TFLite": 3.5, "float Keras": 10.0}
# Other ways Keras users run a model one image at a time; timed for context, not judged: the target is against
# the compiled graph ("float Keras": the model in a tf.function), the fastest float Keras path.
CONTEXT = ("Keras eager call", "Keras predict()")


def load_average():
    return [round(x, 2) for x in os.getloadavg()]


def timers(models, threads):
    """{label: no-argument batch-1 inference} for the Keras, float32 and int8 models (one fixed face)."""
    from lanmsff_edge.bench.measure import keras_timer, timing_input

    keras_model, float_model, int8_model = models
    x = timing_input(keras_model, None)
    keras = keras_model.keras_model
    calls = {"float Keras": keras_timer(keras, x),
             "Keras eager call": lambda: keras(x, training=False).numpy(),
             "Keras predict()": lambda: keras.predict(x, verbose=0)}
    for label, model in (("float32 TFLite", float_model), ("int8 TFLite", int8_model)):
        runtime = model.runtime(threads)
        raw = runtime.quantize_input(timing_input(model, None))
        calls[label] = (lambda r, x: lambda: r.invoke_raw(x))(runtime, raw)
    return calls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help=".keras model (default: build LANMSFF, 8 classes)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=60, help="timed calls per model per round")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write the figures as JSON")
    args = parser.parse_args(argv)

    before = load_average()
    from lanmsff_edge.bench.convert import expand_models
    from lanmsff_edge.bench.measure import configure_tf_threads
    from lanmsff_edge.bench.models import open_models
    from lanmsff_edge.bench.report import format_table
    from lanmsff_edge.bench.runner import run_bench
    from lanmsff_edge.bench.timing import time_calls
    from lanmsff_edge.model import build_model, save_model

    configure_tf_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(args.model) if args.model else Path(folder) / "lanmsff.keras"
        if not args.model:
            save_model(build_model(8), path, include_optimizer=False)
        print(f"load average {before}; converting {path.name} to float32 and int8 TFLite ...", file=sys.stderr)
        models = expand_models(open_models([path]))
    report = run_bench(models, threads=args.threads, runs=args.runs, warmup=args.warmup, convert=False)
    print(format_table(report))
    print()

    calls = timers(models, args.threads)
    medians = {label: [] for label in calls}
    fastest = {label: [] for label in calls}
    for round_index in range(args.rounds):
        for label, call in calls.items():
            latency = time_calls(call, args.runs, args.warmup)
            medians[label].append(latency.p50)
            fastest[label].append(latency.min)
        print(f"round {round_index + 1}: p50 " + ", ".join(f"{label} {values[-1]:.3f} ms"
                                                          for label, values in medians.items()))
    after = load_average()
    summary = {"threads": args.threads, "rounds": args.rounds, "runs_per_round": args.runs,
               "load_average_before": before, "load_average_after": after, "host": report.host,
               "p50_ms": {label: statistics.median(values) for label, values in medians.items()},
               "min_ms": {label: min(values) for label, values in fastest.items()},
               "size_bytes": {row.model: row.size_bytes for row in report.results}, "ratios": {}}
    print()
    for label in (*TARGETS, *CONTEXT):
        target = TARGETS.get(label)
        ratios = [a / b for a, b in zip(medians[label], medians["int8 TFLite"])]
        median = statistics.median(ratios)
        best = min(fastest[label]) / min(fastest["int8 TFLite"])
        summary["ratios"][label] = {"median": median, "min": min(ratios), "max": max(ratios),
                                    "ratio_of_fastest_calls": best}
        verdict = "context, not judged"
        if target is not None:
            summary["ratios"][label].update(target=target, **{"pass": median >= target})
            verdict = f"target ≥ {target:g}×: {'PASS' if median >= target else 'FAIL'}"
        print(f"int8 vs {label:<16} {median:6.2f}× faster (rounds {min(ratios):.2f}–{max(ratios):.2f}; fastest "
              f"calls {best:.2f}×), {verdict}")
    print(f"load average before {before}, after {after} ({os.cpu_count()} cores; compare ratios, not times)")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if all(summary["ratios"][label]["pass"] for label in TARGETS) else 1


if __name__ == "__main__":
    sys.exit(main())
