"""`lanmsff-edge predict`: facial expressions of the faces in photos."""
import click

from lanmsff_edge.commands.params import InputPath, ModelPath, OutputPath, detector_options, model_help


def _annotated(folder, params):
    """The annotated copies predict writes into --annotate (``write_annotations``' names)."""
    from lanmsff_edge.predict import annotated_name

    return [folder / annotated_name(image) for image in params.get("images") or ()]


@click.command(help="Find the faces in each IMAGE (a file, or a folder of images) and print their expression with "
                    "the top-k probabilities.\n\n"
                    "Faces are found with BlazeFace (or --detector haar, OpenCV's frontal cascade) and cropped "
                    "like FER-2013 (the detector's box scaled to the FER frame), then resized to 64×64 gray. "
                    "Several faces → one line each, left to right. "
                    "int8 probabilities are printed to the 1/256 step of the model's output (<0.004: below one step). "
                    "Exit code 1 when any IMAGE could not be read (the others are still processed) or when no "
                    "face was found in any IMAGE; --annotate writes only images with a face.")
@click.argument("images", nargs=-1, required=True, type=InputPath(exists=False))
@click.option("--model", default="ferplus", show_default=True, type=ModelPath(),
              help=model_help("A .tflite or .keras file or a training run folder",
                              "A bare bundled name runs its int8 file (LiteRT)."))
@click.option("--no-detect", is_flag=True, help="Each image is already a face crop: classify the whole image.")
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(1, None), help="Probabilities shown.")
@click.option("--json", "json_path", type=OutputPath(dir_okay=False), help="Also write all results as JSON.")
@click.option("--annotate", "annotate_dir", type=OutputPath(file_okay=False, companions=_annotated),
              help="Write each image with boxes and labels into this folder (<name>_annotated.<ext>).")
@detector_options
@click.pass_context
def command(ctx, images, model, no_detect, top_k, json_path, annotate_dir, detector, min_face, min_score):
    import json

    from lanmsff_edge.atomic import artifact_group, write_text
    from lanmsff_edge.faces import make_detector
    from lanmsff_edge.predict import format_result, load_classifier, predict_files, results_to_json, write_annotations

    classifier = load_classifier(model)
    finder = None if no_detect else make_detector(detector, min_size=min_face, min_score=min_score)
    results = predict_files(images, classifier, detect=not no_detect, detector=finder,
                            keep_images=bool(annotate_dir))
    for result in results:
        for line in format_result(result, top_k):
            click.echo(line, err=bool(result.error))
    with artifact_group():  # the JSON and the annotated images: all of this run, or all as they were
        if json_path:
            write_text(json_path, json.dumps(results_to_json(results, classifier, top_k), indent=2) + "\n")
        if annotate_dir:
            written = write_annotations(results, annotate_dir)
    if annotate_dir:
        click.echo(f"annotated images: {len(written)} written to {annotate_dir}")
    failed = [result.path for result in results if result.error]
    if len(failed) == len(results):  # nothing was read: not a matter of faces
        click.echo(f"Error: no image could be read ({len(failed)} of {len(results)}; the reasons are above)",
                   err=True)
    elif not any(result.faces for result in results):
        hint = "" if no_detect else " (if they are face crops already, use --no-detect)"
        click.echo(f"Error: no face found in any image that could be read{hint}", err=True)
    elif failed:
        click.echo(f"{len(failed)} of {len(results)} images could not be read", err=True)
    if failed or not any(result.faces for result in results):
        ctx.exit(1)
