"""Evaluation: the paper's metrics on crafted predictions (exact values), the CLI on tiny models."""
import json

import numpy as np
import pytest

from lanmsff_edge.errors import UserError
from lanmsff_edge.evaluation import OVERALL, mean_metrics, metrics_from_predictions

CLASSES = ("a", "b", "c")


def one_hot(predictions, classes=3):
    return np.eye(classes)[predictions]


def test_metrics_on_crafted_predictions():
    labels = [0, 0, 0, 1, 1, 2]
    predicted = [0, 0, 1, 1, 1, 0]
    poses = ["-90", "0", "-90", "0", "+45", "0"]
    m = metrics_from_predictions(labels, one_hot(predicted), CLASSES, poses=poses, params=2_000_000)
    assert m["size"] == 6 and m["correct"] == 4
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class_accuracy"] == pytest.approx({"a": 2 / 3, "b": 1.0, "c": 0.0})
    assert m["support"] == {"a": 3, "b": 2, "c": 1}
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert np.allclose(m["confusion_matrix_percent"], [[66.6667, 33.3333, 0], [0, 100, 0], [100, 0, 0]])
    # ID = accuracy % / params in millions = 66.67 / 2
    assert m["information_density"] == pytest.approx(100 * (4 / 6) / 2.0)
    # poses in angle order; -90: 1 of 2, 0: 2 of 3, +45: 1 of 1
    assert list(m["pose_accuracy"]) == ["-90", "0", "+45"]
    assert m["pose_accuracy"] == pytest.approx({"-90": 0.5, "0": 2 / 3, "+45": 1.0})
    assert m["pose_size"] == {"-90": 2, "0": 3, "+45": 1}
    assert m["pose_variance"] == pytest.approx(np.var([50.0, 200 / 3, 100.0]))
    json.dumps(m)  # JSON-ready


def test_accuracy_interval_and_paired_comparison_match_published_values():
    from lanmsff_edge.evaluation import paired_comparison, wilson_interval

    # Wilson score intervals, textbook values: 5/10 → 0.2366–0.7634, 0/10 → 0–0.2775
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(0, 0) is None
    m = metrics_from_predictions([0] * 8 + [1] * 2, one_hot([0] * 10), CLASSES)
    assert m["accuracy_ci95"] == pytest.approx(list(wilson_interval(8, 10)))
    # exact McNemar: 12 lost / 3 gained → 2 · P(X ≤ 3 | 15, ½) = 2 · 576 / 32768
    labels = np.zeros(20, int)
    reference = np.array([0] * 12 + [1] * 3 + [0] * 5)
    model = np.array([1] * 12 + [0] * 3 + [0] * 5)
    versus = paired_comparison(labels, model, reference)
    assert (versus["lost"], versus["gained"]) == (12, 3)
    assert versus["p_value"] == pytest.approx(2 * 576 / 32768)
    assert versus["agreement"] == pytest.approx(5 / 20)
    assert paired_comparison(labels, reference, reference)["p_value"] == 1.0


def test_mcnemar_p_holds_for_whole_test_sets():
    """More than 1,023 discordant images (two unrelated models on FERPlus val) once overflowed a float."""
    from lanmsff_edge.evaluation.metrics import mcnemar_p

    assert mcnemar_p(1500, 1500) == pytest.approx(1.0, abs=0.03)
    assert mcnemar_p(0, 3000) == 0.0
    assert mcnemar_p(2900, 3100) == pytest.approx(0.0102, abs=0.002)  # normal approx: z = 200 / √6000 = 2.58


def test_pose_variance_is_the_papers_population_variance():
    """Pose-FERPlus subsets + overall, as Table XI: 86.92 / 84.68 / 86.96 % → Var 1.13 (population variance)."""
    n = 2500
    labels = np.zeros(n, dtype=int)

    def predictions(correct):
        return one_hot(np.r_[np.zeros(correct, int), np.ones(n - correct, int)])

    m = metrics_from_predictions(labels, predictions(2174), CLASSES,
                                 subsets={"pose30": (labels, predictions(2173)), "pose45": (labels, predictions(2117))})
    assert m["pose_accuracy"] == pytest.approx({"pose30": 0.8692, "pose45": 0.8468, OVERALL: 0.8696})
    assert m["pose_size"] == {"pose30": n, "pose45": n, OVERALL: n}
    assert m["pose_variance"] == pytest.approx(1.13529, abs=1e-4)
    assert m["accuracy"] == pytest.approx(0.8696)  # the headline figure stays the whole split's


def test_metrics_edge_cases():
    m = metrics_from_predictions([0, 1], [0, 0], CLASSES)  # class indices instead of scores; class c absent
    assert m["accuracy"] == 0.5 and m["per_class_accuracy"]["c"] is None
    assert m["confusion_matrix_percent"][2] == [0, 0, 0]
    assert m["information_density"] is None and m["pose_variance"] is None and m["pose_accuracy"] is None
    with pytest.raises(UserError, match="predicts 4 classes but the data set has 3"):
        metrics_from_predictions([0], np.ones((1, 4)), CLASSES)
    with pytest.raises(UserError, match="no images"):
        metrics_from_predictions([], np.zeros((0, 3)), CLASSES)


def test_mean_over_folds_pools_the_confusion_matrix():
    run1 = metrics_from_predictions([0, 1], one_hot([0, 1]), CLASSES, poses=["0", "+90"], params=10)
    run2 = metrics_from_predictions([0, 1, 2, 2], one_hot([0, 0, 2, 1]), CLASSES, poses=["0", "0", "+90", "+90"],
                                    params=10)
    for run, fold in ((run1, 1), (run2, 2)):
        run.update(dataset="kdef", split="val", fold=fold)
    mean = mean_metrics([run1, run2])
    assert mean["accuracy"] == pytest.approx((1.0 + 0.5) / 2)
    assert mean["accuracy_std"] == pytest.approx(0.25)
    assert mean["folds"] == [1, 2] and mean["size"] == 6
    assert mean["confusion_matrix"] == [[2, 0, 0], [1, 1, 0], [0, 1, 1]]
    assert mean["pose_accuracy"] == pytest.approx({"0": (1.0 + 0.5) / 2, "+90": (1.0 + 0.5) / 2})


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """An untrained 8-class and 7-class LANMSFF at width 0.25, saved as .keras."""
    from lanmsff_edge.model import build_model, save_model

    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for classes in (8, 7):
        paths[classes] = folder / f"tiny{classes}.keras"
        save_model(build_model(classes, width=0.25), paths[classes], include_optimizer=False)
    return paths


def test_cli_evaluate_writes_report_json_and_png(run_cli, tiny_models, tmp_path):
    out_json, out_png = tmp_path / "m.json", tmp_path / "c.png"
    result = run_cli("evaluate", "--model", tiny_models[8], "--dataset", "synthetic", "--limit", 40,
                     "--json", out_json, "--confusion", out_png)
    assert result.exit_code == 0, result.output
    metrics = json.loads(out_json.read_text())
    assert metrics["size"] == 40 and metrics["split"] == "val" and metrics["params"] > 20_000
    assert sum(metrics["confusion_matrix"][i][j] for i in range(8) for j in range(8)) == 40
    assert set(metrics["pose_accuracy"]) == {"-30", "0", "+30"} and metrics["pose_variance"] is not None
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "information density" in result.output and "confusion matrix" in result.output
    assert "pose variance (Var)" in result.output
    low, high = metrics["accuracy_ci95"]
    assert low <= metrics["accuracy"] <= high and f"95 % interval {100 * low:.2f}–{100 * high:.2f} %" in result.output


def test_cli_evaluate_several_models_prints_the_mean(run_cli, tiny_models, tmp_path):
    out_json = tmp_path / "mean.json"
    result = run_cli("evaluate", "--model", tiny_models[8], "--model", tiny_models[8], "--dataset", "synthetic",
                     "--limit", 16, "--json", out_json)
    assert result.exit_code == 0, result.output
    summary = json.loads(out_json.read_text())
    assert len(summary["runs"]) == 2 and summary["mean"]["models"] == 2
    assert summary["mean"]["accuracy"] == pytest.approx(summary["runs"][0]["accuracy"])
    assert summary["mean"]["accuracy_std"] == pytest.approx(0.0)
    assert "mean over 2 models" in result.output


def test_cli_evaluate_bad_inputs(run_cli, tiny_models, tmp_path):
    result = run_cli("evaluate", "--model", tmp_path / "absent.keras", "--dataset", "synthetic")
    assert result.exit_code == 2 and "model file not found" in result.output
    assert "Traceback" not in result.output
    result = run_cli("evaluate", "--model", tiny_models[7], "--dataset", "synthetic", "--limit", 8)
    assert result.exit_code == 1
    assert "has 7 classes but data set synthetic has 8" in result.output
    result = run_cli("evaluate", "--model", tiny_models[8])
    assert result.exit_code == 1 and "--dataset" in result.output
    (tmp_path / "run").mkdir()
    result = run_cli("evaluate", "--model", tmp_path / "run", "--dataset", "synthetic")
    assert result.exit_code == 1 and "without model.keras" in result.output
    result = run_cli("evaluate", "--model", tiny_models[7], "--dataset", "kdef", "--data", tmp_path)
    assert result.exit_code == 1 and "--fold" in result.output


def test_evaluate_with_pose_subsets_reports_each_and_overall(tiny_models):
    """Pose lists select overlapping subsets (>45° ⊂ >30°): each is scored apart, plus the whole split."""
    from lanmsff_edge.data import load_dataset
    from lanmsff_edge.evaluation import evaluate

    images = load_dataset("synthetic", split="val", limit=24)
    wide, wider = images.subset(range(0, 12)), images.subset(range(0, 6))
    pose_images = wide.subset(range(12))
    pose_images.images = np.concatenate([wide.images, wider.images])
    pose_images.labels = np.concatenate([wide.labels, wider.labels])
    pose_images.poses = np.array(["pose30"] * 12 + ["pose45"] * 6, dtype=object)
    m = evaluate(tiny_models[8], images, pose_images=pose_images)
    assert list(m["pose_accuracy"]) == ["pose30", "pose45", OVERALL]
    assert m["pose_size"] == {"pose30": 12, "pose45": 6, OVERALL: 24}
    assert m["pose_accuracy"][OVERALL] == pytest.approx(m["accuracy"]) and m["size"] == 24
    assert m["pose_variance"] == pytest.approx(np.var([100 * a for a in m["pose_accuracy"].values()]))


@pytest.mark.slow
def test_evaluate_scores_given_probabilities_instead_of_predicting_again(tiny_models):
    from lanmsff_edge.data import load_dataset
    from lanmsff_edge.evaluation import evaluate
    from lanmsff_edge.runtimes import open_runtime, predict_faces

    images = load_dataset("synthetic", split="val", limit=24)
    predicted = predict_faces(open_runtime(tiny_models[8]), images.images)
    assert evaluate(tiny_models[8], images, probabilities=predicted) == evaluate(tiny_models[8], images)
    perfect = np.eye(8, dtype=np.float32)[images.labels]  # not what the untrained model predicts
    scored = evaluate(tiny_models[8], images, probabilities=perfect)
    assert scored["accuracy"] == 1.0 and scored["correct"] == 24
    with pytest.raises(ValueError, match="3 probability rows for 24 images"):
        evaluate(tiny_models[8], images, probabilities=perfect[:3])


def test_unseen_accuracy_leaves_out_the_copies_of_the_other_split():
    from lanmsff_edge.data.synthetic import generate
    from lanmsff_edge.evaluation import unseen_accuracy

    train, val = generate("train", size=24, seed=2), generate("val", size=8, seed=2)
    val.images[[0, 3]] = train.images[[5, 9]]  # two validation faces are copies of training faces
    predictions = val.labels.copy()
    predictions[[0, 3, 6]] = (val.labels[[0, 3, 6]] + 1) % 8  # wrong on both copies and on one unseen image
    unseen = unseen_accuracy(val, one_hot(predictions, 8), train)
    assert unseen == {"copies_of": "train", "copies": 2, "size": 6, "accuracy": pytest.approx(5 / 6)}


def test_cli_evaluate_unseen_reports_the_accuracy_without_copies(run_cli, tiny_models, tmp_path):
    out_json = tmp_path / "m.json"
    result = run_cli("evaluate", "--model", tiny_models[8], "--dataset", "synthetic", "--limit", 40, "--unseen",
                     "--json", out_json)
    assert result.exit_code == 0, result.output
    metrics = json.loads(out_json.read_text())
    # synthetic splits share no image: every validation image is unseen
    assert metrics["unseen"] == {"copies_of": "train", "copies": 0, "size": 40, "accuracy": metrics["accuracy"]}
    assert "accuracy, unseen" in result.output and "0 are pixel copies of train images" in result.output


@pytest.mark.slow
def test_baseline_comparison_counts_the_images_each_model_gets_right(tiny_models, run_cli, tmp_path):
    """Perfect probabilities against an untrained baseline: every image the baseline misses is gained, none lost."""
    from lanmsff_edge.data import load_dataset
    from lanmsff_edge.evaluation import evaluate
    from lanmsff_edge.evaluation.metrics import mcnemar_p

    images = load_dataset("synthetic", split="val", limit=48)
    perfect = np.eye(8, dtype=np.float32)[images.labels]
    baseline = evaluate(tiny_models[8], images)
    compared = evaluate(tiny_models[8], images, probabilities=perfect, baseline=tiny_models[8])["vs_baseline"]
    missed = 48 - baseline["correct"]
    assert compared["accuracy"] == pytest.approx(baseline["accuracy"])
    assert (compared["gained"], compared["lost"]) == (missed, 0)
    assert compared["p_value"] == pytest.approx(mcnemar_p(0, missed))
    same = evaluate(tiny_models[8], images, baseline=tiny_models[8])["vs_baseline"]
    assert (same["gained"], same["lost"], same["agreement"], same["p_value"]) == (0, 0, 1.0, 1.0)

    out = tmp_path / "m.json"
    result = run_cli("evaluate", "--model", tiny_models[8], "--dataset", "synthetic", "--limit", 16,
                     "--baseline", tiny_models[8], "--json", out)
    assert result.exit_code == 0, result.output
    assert "+0.00 points, 0 images gained / 0 lost" in result.output and "not significant" in result.output
    assert json.loads(out.read_text())["vs_baseline"]["agreement"] == 1.0
    result = run_cli("evaluate", "--model", tiny_models[8], "--dataset", "synthetic", "--limit", 8,
                     "--baseline", tiny_models[7])
    assert result.exit_code == 1 and "baseline" in result.output and "7 classes" in result.output
    result = run_cli("evaluate", "--model", tiny_models[8], "--dataset", "synthetic", "--baseline",
                     tmp_path / "absent.keras")
    assert result.exit_code == 2 and "model file not found" in result.output


def test_an_int8_tflite_file_gets_its_parameter_count_and_information_density(int8_lanmsff):
    from lanmsff_edge.data.synthetic import generate
    from lanmsff_edge.evaluation import evaluate
    from lanmsff_edge.tflite_graph import read_tflite, tflite_params

    metrics = evaluate(str(int8_lanmsff.path), dataset=generate("val", size=16, seed=1))
    params = tflite_params(read_tflite(int8_lanmsff.path.read_bytes()))
    assert 20_000 < params < int8_lanmsff.keras_model.count_params()  # BN folded into the convolutions
    assert metrics["params"] == params
    assert metrics["information_density"] == pytest.approx(100 * metrics["accuracy"] / (params / 1e6))
