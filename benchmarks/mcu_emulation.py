"""Instructions per inference of the bundled int8 model(s) on emulated Cortex-M4, M7 and M55, unpatched and in
patches, measured in one run: each bundle is built with real TFLite Micro + CMSIS-NN and run under QEMU -icount.

    python benchmarks/mcu_emulation.py --tflm ../shared/tflm/tflm-tree.tar.gz [--patches 1 --patches 6] \
        [--rounding single --rounding double] [--json out.json]

Prints, per (model, patches, core): the golden self-test, instructions per inference (median of 3) and per MAC,
the five heaviest op kinds, the arena TFLM used on the core, flash and static RAM from the ELF, and the host
arena / extra MACs of the patched model, for each TFLM/CMSIS-NN rounding asked for (what single rounding
costs). Instructions under QEMU are not cycles: QEMU models no pipeline, caches
or flash wait states.
"""
import json
import sys
import tempfile
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CORES = ("cortex-m4", "cortex-m7", "cortex-m55")


@click.command()
@click.option("--tflm", default=None, help="TFLite Micro tree or tflm-tree.tar.gz [default: $TFLM_DIR].")
@click.option("--model", "models", multiple=True, default=("ferplus",), show_default=True,
              help="Bundled name or int8 .tflite (repeatable).")
@click.option("--patches", "counts", type=click.IntRange(1, 10), multiple=True, default=(1, 6), show_default=True)
@click.option("--core", "cores", type=click.Choice(CORES), multiple=True, default=CORES, show_default=True)
@click.option("--rounding", "roundings", type=click.Choice(["single", "double"]), multiple=True,
              default=("single",), show_default=True, help="TFLM/CMSIS-NN requantization (repeatable).")
@click.option("--json", "json_path", default=None, help="Also write the figures as JSON.")
def main(tflm, models, counts, cores, roundings, json_path):
    from lanmsff_edge.firmware_export import emulate, export_firmware
    from lanmsff_edge.firmware_export import tflm as tflm_tree

    tree = tflm_tree.find_tree(tflm)
    results = []
    for model in models:
        for count, rounding in ((c, r) for c in counts for r in roundings):
            with tempfile.TemporaryDirectory() as folder:
                bundle = export_firmware(model, Path(folder) / "fw", patches=count, tflm=tree, rounding=rounding)
                patching = bundle.manifest.get("patches", {})
                for core in cores:
                    result = emulate.emulate(bundle.out, core, tree)
                    entry = {"model": model, "patches": count, "host_arena_bytes": bundle.arena_minimum,
                             "extra_macs": patching.get("extra_macs", 0.0), **result.as_dict()}
                    entry.pop("ops")
                    results.append(entry)
                    heaviest = ", ".join(f"{op} {100 * v['share']:.1f} %" for op, v in result.heaviest(5))
                    click.echo(f"{model} patches={count} {rounding} rounding {core:<10} "
                               f"golden {'bit-exact' if result.golden_ok else 'DIFFERS'}"
                               f"  {result.instructions / 1e6:8.1f} M instructions"
                               f"  {result.instructions_per_mac:.2f}/MAC"
                               f"  arena used {result.arena_used_bytes:,} B (host {bundle.arena_minimum:,} B)"
                               f"  flash {result.flash_bytes:,} B  RAM {result.ram_bytes:,} B"
                               f"  stack {result.stack_bytes:,} B"
                               f"\n    heaviest: {heaviest}")
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
