"""`lanmsff-edge gradcam`: where the float model looks on a face (the paper's Fig. 6)."""
import click

from lanmsff_edge.commands.params import InputPath, ModelPath, OutputPath, detector_options, model_help


@click.command(help="Grad-CAM heat map of the float model on the face in IMAGE (the largest one when there are "
                    "several), on block 4's last convolution before pooling (the paper's Fig. 6).\n\n"
                    "The PNG holds the face crop and the crop with the heat map overlaid, side by side, each "
                    "SIZE×SIZE, under a title band of SIZE/8 with the predicted label and probability: "
                    "2·SIZE × 9·SIZE/8 pixels (512×288 by default).")
@click.argument("image", type=InputPath(exists=False, dir_okay=False))
@click.option("--model", default="ferplus", show_default=True, type=ModelPath(formats=("float",)),
              help=model_help("A .keras file or a training run folder (float: Grad-CAM needs gradients)",
                              formats=("float",)))
@click.option("--class", "class_name", default="auto", show_default=True,
              help="Class to explain, by name; auto = the predicted class.")
@click.option("--no-detect", is_flag=True, help="IMAGE is already a face crop: use the whole image.")
@click.option("--layer", default=None, help="Layer to explain (default: block4_c1x1_conv).")
@click.option("--size", default=256, show_default=True, type=click.IntRange(64, 2048), help="Panel size in pixels.")
@click.option("--out", required=True, type=OutputPath(dir_okay=False), help="The PNG to write.")
@detector_options
def command(image, model, class_name, no_detect, layer, size, out, detector, min_face, min_score):
    from lanmsff_edge.faces import make_detector
    from lanmsff_edge.gradcam import explain_image

    finder = None if no_detect else make_detector(detector, min_size=min_face, min_score=min_score)
    report = explain_image(image, model=model, class_name=class_name, detect=not no_detect, out=out, size=size,
                           layer=layer, detector=finder)
    result, names = report.result, report.class_names
    predicted = int(result.probabilities.argmax())
    x, y, w, h = report.face_box
    more = f" (the largest of {report.faces_found} faces)" if report.faces_found > 1 else ""
    click.echo(f"face        at ({x}, {y}) {w}×{h}{more}")
    click.echo(f"predicted   {names[predicted]} {result.probabilities[predicted]:.3f}")
    click.echo(f"explained   {names[result.class_index]} {result.probabilities[result.class_index]:.3f} "
               f"on layer {result.layer} ({result.heat.shape[0]}×{result.heat.shape[1]})")
    if result.flat:
        click.echo("note        the heat map is empty: no location raises this class's score")
    height, width = report.shape
    click.echo(f"wrote       {out} ({width}×{height})")
