"""`lanmsff-edge check-data`: what a data set's splits look like, and what would make results on them misleading."""
import click

from lanmsff_edge.commands.params import InputPath, OutputPath
from lanmsff_edge.data.classes import DATASETS, SPLITS


@click.command(help="Load a data set's splits and check them before training: images and classes per split, "
                    "median sharpness, brightness, blank images, images copied between splits, and a split far "
                    "blurrier than the others (a degraded copy). `train` runs the same checks and warns.")
@click.option("--dataset", required=True, type=click.Choice(DATASETS))
@click.option("--data", type=InputPath(),
              help="The data set's folder or archive (not needed for synthetic).")
@click.option("--split", "splits", multiple=True, default=("train", "val"), show_default=True,
              type=click.Choice(SPLITS), help="Splits to check; the first is the reference.")
@click.option("--fold", type=click.IntRange(1, 5), help="KDEF cross-validation fold.")
@click.option("--limit", type=click.IntRange(1, None), help="Only the first N images of each split.")
@click.option("--json", "json_path", type=OutputPath(dir_okay=False), help="Also write the figures as JSON.")
@click.option("--strict", is_flag=True, help="Exit with status 1 when there is any finding.")
def command(dataset, data, splits, fold, limit, json_path, strict):
    import json

    from lanmsff_edge.atomic import write_text
    from lanmsff_edge.data import load_dataset
    from lanmsff_edge.data.audit import audit
    loaded = [load_dataset(dataset, data, split=split, fold=fold, limit=limit) for split in dict.fromkeys(splits)]
    report = audit(loaded)
    click.echo(f"{'split':<8}{'images':>9}{'skipped':>9}{'sharpness':>11}{'brightness':>12}{'contrast':>10}"
               f"{'blank':>7}  per class")
    for figures in report["splits"]:
        counts = " ".join(f"{name} {count:,}" for name, count in figures["class_counts"].items())
        click.echo(f"{figures['split']:<8}{figures['images']:>9,}{figures['skipped']:>9,}"
                   f"{_number(figures['sharpness_median']):>11}{_number(figures['brightness_mean']):>12}"
                   f"{_number(figures['contrast_mean']):>10}{figures['blank']:>7}  {counts}")
    click.echo("(skipped: undecodable images left out; sharpness: median variance of the Laplacian; brightness, "
               "contrast: mean and spread of gray levels)")
    for finding in report["findings"]:
        click.echo(f"warning: {finding}")
    if not report["findings"]:
        click.echo("no findings")
    if json_path:
        write_text(json_path, json.dumps({"dataset": dataset, "fold": fold, "limit": limit, **report}, indent=2) + "\n")
    if strict and report["findings"]:
        raise click.ClickException(f"{len(report['findings'])} finding(s) in {dataset} (--strict)")


def _number(value):
    return "-" if value is None else f"{value:.1f}"
