"""`lanmsff-edge`: a thin click layer over the library.

Each command lives in ``lanmsff_edge/commands/<name>.py`` and is imported only when it runs, so ``--help``
answers without starting TensorFlow. A ``UserError`` from anywhere, and an ``OSError`` no module turned into one
(a file that vanished, a folder where a file should be, a symlink loop), become one line on stderr and exit code 1;
a bad option value is click's usage error, exit code 2. ``-v`` / ``-q`` before the command set how much the
package logger (``lanmsff_edge/log.py``) shows on stderr; results stay on stdout.
"""
import importlib
import sys

import click

from lanmsff_edge.bench import devices

# command name -> (module, one-line help shown by `lanmsff-edge --help`)
COMMANDS = {
    "info": ("lanmsff_edge.commands.info", "Parameters, multiply-accumulates and a per-block table of a model."),
    "data": ("lanmsff_edge.commands.data", "Public downloads of FERPlus / FER-2013 → the archives --data takes."),
    "check-data": ("lanmsff_edge.commands.check_data", "Check a data set's splits before training (blur, copies)."),
    "train": ("lanmsff_edge.commands.train", "Train LANMSFF (paper recipe, resumable)."),
    "evaluate": ("lanmsff_edge.commands.evaluate", "Accuracy, confusion matrix, ID and pose variance of a model."),
    "quantize": ("lanmsff_edge.commands.quantize", "QAT / PTQ / fp16 / dynamic / float TFLite with a cost report."),
    "bench": ("lanmsff_edge.commands.bench", f"Latency, size and accuracy on {devices.names_text()}."),
    "export-firmware": ("lanmsff_edge.commands.firmware", "A TFLite Micro bundle for a microcontroller."),
    "predict": ("lanmsff_edge.commands.predict", "Find faces in photos and classify their expressions."),
    "gradcam": ("lanmsff_edge.commands.gradcam", "Grad-CAM heat map of the float model on a face."),
    "demo": ("lanmsff_edge.commands.demo", "Synthetic data → training → int8 → bench → firmware, in minutes."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        from lanmsff_edge.commands import collisions

        module = importlib.import_module(COMMANDS[name][0])
        return collisions.guard(module.command)

    def format_commands(self, ctx, formatter):
        rows = [(name, short) for name, (_, short) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        from lanmsff_edge.errors import UserError, os_error_text

        try:
            return super().invoke(ctx)
        except UserError as error:
            raise click.ClickException(" ".join(str(error).split())) from None
        except OSError as error:
            raise click.ClickException(" ".join(os_error_text(error).split())) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lanmsff-edge")
@click.option("-v", "--verbose", is_flag=True, help="Also show debug detail (commands run, files resolved).")
@click.option("-q", "--quiet", is_flag=True, help="Show only warnings and errors, not progress notes.")
def cli(verbose, quiet):
    """LANMSFF facial-expression recognition, from training to int8 on the edge."""
    from lanmsff_edge import log

    log.configure(1 if verbose else -1 if quiet else 0)


def main():
    """The console command, supervised: a native crash anywhere becomes one ``Error:`` line (``native.supervise``)."""
    from lanmsff_edge import native

    native.supervise(lambda: cli(prog_name="lanmsff-edge"))


if __name__ == "__main__":
    main()
