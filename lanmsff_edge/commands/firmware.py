"""`lanmsff-edge export-firmware`: an int8 model → a TensorFlow Lite Micro bundle for a microcontroller."""
import click


@click.command(help="Write a TensorFlow Lite Micro bundle (model array, op resolver, settings with a measured "
                    "arena, golden self-test, example, README, bundle.json) for an int8 .tflite model.")
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False),
              help="Full-integer int8 .tflite (from `lanmsff-edge quantize`), or a bundled model: ferplus, fer2013.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Bundle directory (new, empty, or an earlier bundle, which is replaced as a whole).")
@click.option("--name", default="lanmsff", show_default=True,
              help="Prefix of file names and C symbols (a C identifier).")
@click.option("--layout", type=click.Choice(["plain", "cmake", "arduino"]), default="plain", show_default=True,
              help="plain sources; + CMakeLists.txt (-DTFLM_DIR=...); or an Arduino library.")
@click.option("--arena-margin", default="10%", show_default=True,
              help="Added to the measured minimum arena: a percentage or bytes (4096, 8KB).")
@click.option("--labels", default=None,
              help="Class labels: comma-separated, or a .txt (one per line) / .json file. "
                   "Default: the model's sidecar JSON, else FERPlus (8) / FER-2013 (7).")
def command(model_path, out_dir, name, layout, arena_margin, labels):
    from firmware_export import export_firmware

    bundle = export_firmware(model_path, out_dir, name=name, layout=layout, arena_margin=arena_margin,
                             labels=labels)
    manifest = bundle.manifest
    click.echo(f"bundle      {bundle.out} ({bundle.layout}, {len(bundle.files)} files)")
    click.echo(f"model       {bundle.model_bytes:,} bytes of flash, {manifest['model']['macs'] / 1e6:,.1f} M MACs")
    click.echo(f"arena       {bundle.arena_size:,} bytes (measured minimum {bundle.arena_minimum:,} "
               f"+ margin {bundle.arena_margin:,})")
    click.echo(f"ops         {len(bundle.ops)}: {' '.join(bundle.ops)}")
    click.echo(f"labels      {', '.join(bundle.labels)} ({manifest['labels_source']})")
    click.echo(f"golden      {bundle.golden_output} -> {bundle.labels[bundle.golden_top]}")
    click.echo("")
    click.echo(f"{'board':<40} {'verdict':<16} {'latency (estimate)':>18}")
    for board in manifest["boards"]:
        click.echo(f"{board['name']:<40} {board['verdict']:<16} {board['latency_ms_estimate']:>15,.0f} ms")
    reasons = [f"  {board['name']}: {board['reason']}" for board in manifest["boards"] if board["reason"]]
    if reasons:
        click.echo("")
        click.echo("\n".join(reasons))
