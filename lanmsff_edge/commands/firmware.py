"""`lanmsff-edge export-firmware`: an int8 model → a TensorFlow Lite Micro bundle for a microcontroller."""
import click

from lanmsff_edge.boards import BOARDS
from lanmsff_edge.commands.params import InputPath, ModelPath, model_help
from lanmsff_edge.firmware_export import LAYOUTS
from lanmsff_edge.firmware_export.cores import CORES
from lanmsff_edge.firmware_export.tflm import DEFAULT_ROUNDING, ROUNDINGS

BOARD_KEYS = [board.key for board in BOARDS]
CORE_NAMES = list(CORES)


def _margin(value):
    """Refuse a malformed --arena-margin at parse time (exit 2), like every other option."""
    if value is not None:
        from lanmsff_edge.errors import UserError
        from lanmsff_edge.memory.fit import parse_margin

        try:
            parse_margin(value, 1)
        except UserError as error:
            raise click.BadParameter(str(error).split(": ", 1)[-1]) from None
    return value


def _size(ctx, param, value):
    """--max-arena parsed at parse time: a bad SIZE exits 2."""
    if value is None:
        return None
    from lanmsff_edge.errors import UserError
    from lanmsff_edge.memory.fit import parse_size

    try:
        return parse_size(value)
    except UserError as error:
        raise click.BadParameter(str(error).split(": ", 1)[-1]) from None


def _milliseconds(ms):
    return f"{ms:,.0f}" if ms >= 10 else f"{ms:.2g}"


@click.command(help="Write a TensorFlow Lite Micro bundle (model array, op resolver, settings with a measured "
                    "arena, golden self-test, example, README, bundle.json) for a full-integer .tflite model: a "
                    "64x64 face classifier gets the face preprocessing and expression hooks, any other model its "
                    "input tensor as it is and generic hooks.")
@click.option("--model", "model_path", required=True, type=ModelPath(formats=("int8",)),
              help=model_help("Full-integer .tflite: int8 (or int16) input and output, one of each, static shapes",
                              formats=("int8",)))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Bundle directory: new, empty, or an earlier bundle (the files the tool wrote there are "
                   "replaced; files you added, or hooks you edited, are kept; another edited file stops the export, "
                   "named).")
@click.option("--name", default="lanmsff", show_default=True,
              help="Prefix of file names and C symbols (a C identifier).")
@click.option("--layout", type=click.Choice(LAYOUTS), default="plain", show_default=True,
              help="plain sources; + CMakeLists.txt (-DTFLM_DIR=...); or an Arduino library.")
@click.option("--arena-margin", default=None, callback=lambda ctx, param, value: _margin(value),
              help="Added to the measured minimum arena: a percentage or bytes (4096, 8KB). [default: 10%; with "
                   "--max-arena/--board, 10% within the budget, at least 2%]")
@click.option("--max-arena", default=None, metavar="SIZE", callback=_size,
              help="Arena budget (262144, 256KB, 0.25MB): run the model in the fewest row patches that fit.")
@click.option("--board", default=None, type=click.Choice(BOARD_KEYS),
              help="Budget = the board's largest SRAM block, less ~32 KB for the application.")
@click.option("--patches", type=click.IntRange(1, 10), default=None,
              help="Force this many row patches (1 = unpatched).")
@click.option("--verify", "verify_core", default=None, type=click.Choice(CORE_NAMES),
              help="Build with real TFLite Micro + CMSIS-NN and pass the golden self-test on this emulated core "
                   "(QEMU) before writing the bundle.")
@click.option("--tflm", default=None, type=InputPath(),
              help="TFLite Micro tree for --verify and for --rounding single's golden vector: a tflite-micro "
                   "checkout with its downloads, or the offline tflm-tree.tar.gz. [default: $TFLM_DIR]")
@click.option("--rounding", type=click.Choice(ROUNDINGS), default=None,
              help="How the firmware's TFLM/CMSIS-NN requantize: single (TFLITE_SINGLE_ROUNDING=1 and "
                   "CMSIS_NN_USE_SINGLE_ROUNDING: XNNPACK's arithmetic, so a phone and the board agree; the golden "
                   "vector is computed with TFLM built from --tflm) or double (TFLM's stock build). [default: "
                   f"{DEFAULT_ROUNDING} with a TFLM tree (--tflm or TFLM_DIR), else double]")
@click.option("--undilate", is_flag=True,
              help="Rewrite dilated depthwise convolutions for CMSIS-NN's fast kernels (same integers; measured "
                   "-2.5 % instructions on Cortex-M7, -15 % on M55; ~4 KB more arena).")
@click.option("--labels", default=None,
              help="Class labels: comma-separated, or a .txt (one per line) / .json file. Default: the model's card, "
                   "sidecar JSON or metadata; a face model then falls back to FERPlus (8) / FER-2013 (7), any other "
                   "model has none.")
@click.option("--golden-input", default=None, type=InputPath(dir_okay=False), metavar="FILE.npy",
              help="The self-test's input for a model that is not a face classifier: a .npy of the input's size, "
                   "integers of its dtype, or floats (quantized). [default: seeded random integers]")
def command(model_path, out_dir, name, layout, arena_margin, max_arena, board, patches, verify_core, tflm, rounding,
            undilate, labels, golden_input):
    from lanmsff_edge.firmware_export import export_firmware
    from lanmsff_edge.firmware_export.bundle import millions

    bundle = export_firmware(model_path, out_dir, name=name, layout=layout, arena_margin=arena_margin,
                             labels=labels, max_arena=max_arena, board=board, patches=patches, verify=verify_core,
                             tflm=tflm, undilate=undilate, rounding=rounding, golden_input=golden_input)
    manifest = bundle.manifest
    click.echo(f"bundle      {bundle.out} ({bundle.layout}, {len(bundle.files)} files)")
    click.echo(f"model       {bundle.model_bytes:,} bytes of flash, {manifest['model']['macs'] / 1e6:,.1f} M MACs")
    click.echo(f"arena       {bundle.arena_size:,} bytes (measured minimum {bundle.arena_minimum:,} "
               f"+ margin {bundle.arena_margin:,})")
    if not manifest["arena"]["sized_for"].startswith("the host"):
        click.echo(f"            sized on {manifest['arena']['sized_for']}")
    patching = manifest.get("patches", {})
    if patching.get("patches", 1) > 1:
        click.echo(f"patches     {patching['patches']} row stripes ({', '.join(patching['regions'])}): arena "
                   f"{patching['unpatched_arena_bytes']:,} -> {patching['arena_bytes']:,} bytes measured, "
                   f"+{patching['extra_macs'] * 100:.1f} % MACs; outputs bit-identical to the unpatched model")
    verified = manifest.get("verified")
    if verified:
        click.echo(f"verified    {verified['core']} (QEMU {verified['machine']}, TFLM + CMSIS-NN): golden self-test "
                   f"bit-exact, {millions(verified['instructions'])} instructions per inference (under QEMU, not "
                   f"cycles), arena used {verified['arena_used_bytes']:,} bytes")
    click.echo(f"ops         {len(bundle.ops)}: {' '.join(bundle.ops)}")
    click.echo(f"kind        {manifest['kind']}: input {manifest['input']['dtype']} {manifest['input']['shape']}, "
               f"output {manifest['output']['dtype']} {manifest['output']['shape']}, hooks "
               f"{', '.join(manifest['hooks'])}")
    click.echo(f"labels      {', '.join(bundle.labels) or 'none'} ({manifest['labels_source']})")
    shown = bundle.golden_output if len(bundle.golden_output) <= 16 else [*bundle.golden_output[:16], "..."]
    click.echo(f"golden      {shown} -> {manifest['golden']['top_label']} "
               f"({manifest['rounding']['golden_computed_with']})")
    defines = manifest["rounding"]["defines"]
    click.echo(f"rounding    {manifest['rounding']['mode']}: build TFLM and CMSIS-NN "
               + (f"with {' '.join('-D' + d for d in defines)}" if defines else "as they come (no rounding switch)"))
    click.echo("")
    click.echo(f"{'board':<40} {'verdict':<16} {'latency (estimate)':>18}")
    for board in manifest["boards"]:
        click.echo(f"{board['name']:<40} {board['verdict']:<16} {_milliseconds(board['latency_ms_estimate']):>15} ms")
    reasons = [f"  {board['name']}: {board['reason']}" for board in manifest["boards"] if board["reason"]]
    if reasons:
        click.echo("")
        click.echo("\n".join(reasons))
