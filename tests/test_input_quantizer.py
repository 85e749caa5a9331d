"""One input quantizer on the host and on the board: the bundle's C preprocessing (compiled with the host g++) and
the Python one every runtime uses give the same int8 input for every (pixel, low, high) case."""
import shutil
import subprocess

import numpy as np
import pytest

from lanmsff_edge.data.common import min_max
from lanmsff_edge.firmware_export.bundle import render
from lanmsff_edge.firmware_export.csource import c_float
from lanmsff_edge.runtimes import litert, quantization
from lanmsff_edge.runtimes.quantization import quantize
from lanmsff_edge.tflite_graph import TensorInfo

GXX = shutil.which("g++")

HARNESS = r"""
#include <cstdio>
#include "t_preprocess.h"
int main() {
  static uint8_t gray[kTInputSize];
  static int8_t input[kTInputSize];
  while (std::fread(gray, 1, kTInputSize, stdin) == kTInputSize) {
    TPreprocess(gray, input);
    std::fwrite(input, 1, kTInputSize, stdout);
  }
  return 0;
}
"""


SIZE = 258  # pixels per image here: low, high and up to 256 values between (the C code takes any kInputSize)


def every_case():
    """Images that hold every (pixel, low, high) with low ≤ pixel ≤ high: one image per (low, high), its first two
    pixels low and high, then every pixel value between them (repeated to fill the image)."""
    faces = []
    for low in range(256):
        for high in range(low, 256):
            values = np.arange(low, high + 1, dtype=np.uint8)
            faces.append(np.concatenate([[low, high], np.resize(values, SIZE - 2)]).astype(np.uint8))
    return np.stack(faces)


def settings_header(scale, zero_point):
    return (f"#include <cstdint>\nconstexpr int kTInputSize = {SIZE};\n"
            f"constexpr float kTInputScale = {c_float(scale)};\n"
            f"constexpr int kTInputZeroPoint = {zero_point};\nconstexpr float kTOutputScale = 0.00390625f;\n"
            f"constexpr int kTOutputZeroPoint = -128;\nconstexpr int kTCategoryCount = 8;\n")


@pytest.fixture(scope="module")
def faces():
    return every_case()


@pytest.mark.skipif(GXX is None, reason="g++ not installed")
# the calibrated LANMSFF input (1/255, -128), a power of two, and scales whose halves fall between steps
@pytest.mark.parametrize("scale,zero_point", [(0.003921568859368563, -128), (1 / 256, -128), (0.0078125, 0),
                                              (0.0041152262, -121), (0.00784313772, -1)])
def test_c_and_python_preprocessing_agree_on_every_pixel_low_high_case(faces, scale, zero_point, tmp_path):
    (tmp_path / "t_model_settings.h").write_text(settings_header(scale, zero_point))
    (tmp_path / "t_preprocess.h").write_text(render("preprocess.h.tmpl", name="t", camel="T", guard="T_PRE_H",
                                                    tool_version="test"))
    (tmp_path / "main.cc").write_text(HARNESS)
    subprocess.run([GXX, "-std=c++17", "-O2", "-I", str(tmp_path), str(tmp_path / "main.cc"), "-o",
                    str(tmp_path / "pre")], check=True)
    board = np.frombuffer(subprocess.run([str(tmp_path / "pre")], input=faces.tobytes(), capture_output=True,
                                         check=True).stdout, np.int8).reshape(faces.shape)
    host = quantize(min_max(faces), np.float32(scale), zero_point, np.int8)  # to_model_input's scaling
    assert board.shape == (256 * 257 // 2, SIZE)
    differ = np.argwhere(board != host)
    assert not len(differ), f"{len(differ)} pixels differ, first {differ[:3].tolist()}"


def test_every_runtime_quantizes_an_exact_half_up_not_to_even():
    # x / scale = 2.5 and 3.5 exactly: half up gives 3 and 4 (np.round would give 2 and 4)
    x = np.array([2.5, 3.5, -2.5, 0.0], np.float32) * np.float32(0.25)
    expected = np.array([3, 4, -2, 0], np.int8)
    assert quantize(x, 0.25, 0, np.int8).tolist() == expected.tolist()
    details = {"name": "input", "dtype": np.int8, "quantization": (0.25, 0)}
    assert litert.quantize(x, details).tolist() == expected.tolist()
    tensor = TensorInfo(index=0, name="input", shape=(4,), dtype="int8", scales=(0.25,), zero_points=(0,))
    assert quantization.quantize_for(tensor, x).tolist() == expected.tolist()


def test_quantize_saturates_at_the_dtype_range():
    assert quantize(np.array([10.0, -10.0], np.float32), 0.01, 0, np.int8).tolist() == [127, -128]
    assert quantize(np.array([10.0, -10.0], np.float32), 0.01, 0, np.uint8).tolist() == [255, 0]
