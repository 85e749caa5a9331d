"""A non-editable install holds one top-level name, lanmsff_edge, with every package folder of the repository."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

SOURCES = ["pyproject.toml", "README.md", "cli.py", "lanmsff_edge", "calibration", "firmware_export"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The project's wheel, built offline from a copy of its tracked files (the checkout stays clean)."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    tracked = subprocess.run(["git", "ls-files", "-z", *SOURCES], cwd=REPO, capture_output=True, check=True).stdout
    files = [name for name in tracked.decode().split("\0") if name]
    if not files:
        pytest.skip("not a git checkout")
    for name in files:
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO / name).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(src)], check=True, capture_output=True)
    (path,) = out.glob("*.whl")
    with zipfile.ZipFile(path) as archive:
        return {"names": archive.namelist(), "files": files,
                "entry_points": next(archive.read(n).decode() for n in archive.namelist()
                                     if n.endswith(".dist-info/entry_points.txt"))}


@pytest.mark.slow
def test_the_wheel_installs_only_lanmsff_edge(wheel):
    top = {name.split("/")[0] for name in wheel["names"]}
    (dist_info,) = [name for name in top if name.endswith(".dist-info")]
    assert top == {"lanmsff_edge", dist_info}
    assert "lanmsff-edge = lanmsff_edge.cli:main" in wheel["entry_points"]


@pytest.mark.slow
def test_the_wheel_holds_every_package_and_data_file(wheel):
    mapped = {"calibration/": "lanmsff_edge/calibration/", "firmware_export/": "lanmsff_edge/firmware_export/"}

    def installed_name(name):
        for folder, package in mapped.items():
            if name.startswith(folder):
                return package + name[len(folder):]
        return name

    expected = {installed_name(name) for name in wheel["files"]
                if name.startswith(("lanmsff_edge/", *mapped))}
    missing = sorted(expected - set(wheel["names"]))
    assert not missing, f"tracked files left out of the wheel (add their package to pyproject.toml): {missing[:5]}"
    assert any(name.startswith("lanmsff_edge/firmware_export/templates/emulation/") for name in wheel["names"])
    assert any(name.startswith("lanmsff_edge/pretrained/") and name.endswith(".tflite") for name in wheel["names"])


def test_what_the_readme_commands_write_is_git_ignored():
    """Running the README's examples in the checkout leaves nothing untracked (``--out``/``--json``/… paths)."""
    import re

    text = (REPO / "README.md").read_text()
    outputs = sorted({path.rstrip(".,;:") for path in re.findall(r"--(?:out|json|markdown|plot) ([^\s`)]+)", text)
                      if path.upper() != path})  # not placeholders such as DIR
    assert "fw" in outputs and "runs/ferplus" in outputs  # the pattern finds the README's commands
    probes = [path + "/x" if "." not in Path(path).name else path for path in outputs]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *probes], cwd=REPO, capture_output=True, text=True)
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert sorted(ignored.stdout.split()) == sorted(probes)
