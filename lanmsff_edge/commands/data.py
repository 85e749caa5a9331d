"""`lanmsff-edge data prepare`: the public downloads of FERPlus and FER-2013 → the archives `--data` takes."""
import click

SOURCES = {"ferplus": "Microsoft's fer2013new.csv and Kaggle's fer2013.csv (or the fer2013.tar.gz holding it)",
           "fer2013": "Kaggle's fer2013.csv (or the fer2013.tar.gz holding it)"}


@click.group(help="Data sets from their public downloads (docs/data.md says where each comes from).")
def command():
    pass


@command.command("prepare", help="Check the downloaded files of DATASET in the folder --from and write the layout "
                                 "the loaders and the README's commands take: ferplus → FER2013Train/, "
                                 "FER2013Valid/, FER2013Test/ with PNGs and label.csv (Microsoft's generator "
                                 "output); fer2013 → fer2013/fer2013.csv. Rows are checked one by one, the two "
                                 "FERPlus files against each other, and the counts against the public release.")
@click.argument("dataset", type=click.Choice(list(SOURCES)))
@click.option("--from", "source", required=True, type=click.Path(exists=True),
              help="Folder (or archive) holding the downloads: " + "; ".join(f"{name}: {files}"
                                                                           for name, files in SOURCES.items()) + ".")
@click.option("--out", type=click.Path(), default=None,
              help="A new folder, or a .tar.gz. [default: ferplus.tar.gz / fer2013_csv.tar.gz]")
def prepare_command(dataset, source, out):
    import time

    from lanmsff_edge.data.prepare import prepare
    from lanmsff_edge.log import get_logger

    started = time.perf_counter()
    get_logger(__name__).info(f"preparing {dataset} from {source}")
    report = prepare(dataset, source, out)
    for name, counts in report["splits"].items():
        figures = ", ".join(f"{value:,} {key}" for key, value in counts.items())
        click.echo(f"{name}: {figures}")
    for warning in report["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"wrote {report['out']} ({report['rows']:,} rows checked in {time.perf_counter() - started:.0f} s); "
               f"use it as --dataset {dataset} --data {report['out']}")
