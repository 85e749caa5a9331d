"""`lanmsff-edge demo`: the whole pipeline on synthetic faces, with one summary table."""
import click

from lanmsff_edge.commands.params import WIDTH


@click.command(help="Synthetic faces → training → QAT int8 → bench on cpu and mcu → TFLite Micro firmware "
                    "bundle, with nothing to download, then one summary table (float vs int8 accuracy on the synthetic "
                    "validation split, size, latency ratio, arena, boards that fit).\n\n"
                    "Default: a half-width LANMSFF, 4 epochs on 2,400 synthetic faces (about 97-99 % float and int8 "
                    "on the synthetic validation split); --quick: 3 epochs; --width 1: the exact published model "
                    "(about 3× the time). Synthetic faces test the pipeline; they are no expression benchmark.")
@click.option("--out", default="demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for every artifact; when it already holds something, the next free one of OUT2, OUT3, … "
                   "is used (a rerun keeps the earlier run).")
@click.option("--epochs", type=click.IntRange(1, None), help="Training epochs. [default: 4; --quick 3]")
@click.option("--quick", is_flag=True, help="One epoch less and fewer timing runs.")
@click.option("--width", type=WIDTH,
              help="Width multiplier of the model (1 = the published LANMSFF). [default: 0.5]")
@click.option("--limit", type=click.IntRange(1, None),
              help="First N images of each synthetic split. [default: all, 2,400 train / 480 val]")
def command(out, epochs, quick, width, limit):
    import time

    from lanmsff_edge.demo import run_demo, settings_for, summary_lines

    settings = settings_for(quick=quick, epochs=epochs, width=width, limit=limit)
    started = time.perf_counter()
    summary = run_demo(out, settings)
    click.echo("")
    for line in summary_lines(summary):
        click.echo(line)
    click.echo(f"done in {time.perf_counter() - started:.0f} s")
