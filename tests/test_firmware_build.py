"""The generated sources compile: g++ (host) and arm-none-eabi-g++ -mcpu=cortex-m7 (when installed); the compiled
array is byte-identical to the model and 16-byte aligned; the C preprocessing is bit-exact with the golden input;
main_functions.cc / the platform hooks / the op resolver / the Arduino sketch / CMakeLists.txt are checked against
a stub of the TFLM API (the real TFLM sources are not available offline): the stub declares TFLM's signatures and
exactly the ``Add…()`` methods of ``TFLM_BUILTIN_OPS``. The hooks' weak defaults are linked and run on the host,
alone and overridden by a user's definitions."""
import shutil
import subprocess

import numpy as np
import pytest

from lanmsff_edge.firmware_export import export_firmware
from lanmsff_edge.runtimes import micro

GXX = shutil.which("g++")
ARM_GXX = shutil.which("arm-none-eabi-g++")
ARM_SIZE = shutil.which("arm-none-eabi-size")
CMAKE = shutil.which("cmake")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(GXX is None, reason="g++ not installed")]

STUB_HEADERS = {
    "tensorflow/lite/c/common.h": """
#pragma once
#include <cstddef>
#include <cstdint>
typedef enum TfLiteStatus { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef enum { kTfLiteNoType = 0, kTfLiteFloat32 = 1, kTfLiteInt32 = 2, kTfLiteUInt8 = 3, kTfLiteInt16 = 7,
               kTfLiteInt8 = 9 } TfLiteType;
typedef struct TfLiteQuantizationParams { float scale; int32_t zero_point; } TfLiteQuantizationParams;
typedef union TfLitePtrUnion {
  int32_t* i32; float* f; char* raw; uint8_t* uint8; int16_t* i16; int8_t* int8; void* data;
} TfLitePtrUnion;
typedef struct TfLiteTensor {
  TfLiteType type; TfLitePtrUnion data; void* dims; TfLiteQuantizationParams params; size_t bytes;
} TfLiteTensor;
""",
    "tensorflow/lite/schema/schema_generated.h": """
#pragma once
#include <cstdint>
#define TFLITE_SCHEMA_VERSION (3)
namespace tflite {
struct Model { uint32_t version() const; };
const Model* GetModel(const void* buf);
}  // namespace tflite
""",
    "tensorflow/lite/micro/micro_log.h": "#pragma once\nvoid MicroPrintf(const char* format, ...);\n",
    "tensorflow/lite/micro/micro_profiler_interface.h": """
#pragma once
#include <cstdint>
namespace tflite {
class MicroProfilerInterface {
 public:
  virtual ~MicroProfilerInterface() {}
  virtual uint32_t BeginEvent(const char* tag) = 0;
  virtual void EndEvent(uint32_t event_handle) = 0;
};
}  // namespace tflite
""",
    "tensorflow/lite/micro/system_setup.h": "#pragma once\nnamespace tflite { void InitializeTarget(); }\n",
    "tensorflow/lite/micro/micro_interpreter.h": """
#pragma once
#include <cstddef>
#include <cstdint>
#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"
namespace tflite {
class MicroResourceVariables;
class MicroProfilerInterface;
class MicroInterpreter {
 public:
  MicroInterpreter(const Model* model, const MicroOpResolver& op_resolver, uint8_t* tensor_arena,
                   size_t tensor_arena_size, MicroResourceVariables* resource_variables = nullptr,
                   MicroProfilerInterface* profiler = nullptr, bool preserve_all_tensors = false);
  TfLiteStatus AllocateTensors();
  TfLiteStatus Invoke();
  TfLiteTensor* input(size_t index);
  TfLiteTensor* output(size_t index);
  size_t arena_used_bytes() const;
};
}  // namespace tflite
""",
    "TensorFlowLite.h": "#pragma once\n",
}

# Definitions for linking the CMake example (never run: the stub does no inference).
STUB_SOURCE = """
#include <cstdio>
#include "tensorflow/lite/micro/micro_interpreter.h"
namespace tflite {
uint32_t Model::version() const { return TFLITE_SCHEMA_VERSION; }
const Model* GetModel(const void* buf) { return static_cast<const Model*>(buf); }
void InitializeTarget() {}
MicroInterpreter::MicroInterpreter(const Model*, const MicroOpResolver&, uint8_t*, size_t, MicroResourceVariables*,
                                   MicroProfilerInterface*, bool) {}
TfLiteStatus MicroInterpreter::AllocateTensors() { return kTfLiteError; }
TfLiteStatus MicroInterpreter::Invoke() { return kTfLiteError; }
TfLiteTensor* MicroInterpreter::input(size_t) { return nullptr; }
TfLiteTensor* MicroInterpreter::output(size_t) { return nullptr; }
size_t MicroInterpreter::arena_used_bytes() const { return 0; }
}  // namespace tflite
void MicroPrintf(const char*, ...) {}
"""


def _resolver_stub():
    methods = "\n".join(f"  TfLiteStatus {method}() {{ return Add(); }}"
                        for method in sorted(set(micro.TFLM_BUILTIN_OPS.values())))
    return f"""
#pragma once
#include "tensorflow/lite/c/common.h"
namespace tflite {{
class MicroOpResolver {{ public: virtual ~MicroOpResolver() = default; }};
template <unsigned int tOpCount>
class MicroMutableOpResolver : public MicroOpResolver {{
 public:
{methods}
 private:
  TfLiteStatus Add() {{ return count_++ < tOpCount ? kTfLiteOk : kTfLiteError; }}
  unsigned int count_ = 0;
}};
}}  // namespace tflite
"""


@pytest.fixture(scope="module")
def stub_tflm(tmp_path_factory):
    root = tmp_path_factory.mktemp("tflm_stub")
    for relative, text in {**STUB_HEADERS,
                           "tensorflow/lite/micro/micro_mutable_op_resolver.h": _resolver_stub(),
                           "tensorflow/lite/micro/stub_runtime.cc": STUB_SOURCE}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture(scope="module")
def cmake_bundle(int8_lanmsff, tmp_path_factory):
    return export_firmware(int8_lanmsff.path, tmp_path_factory.mktemp("build") / "fw", layout="cmake",
                           rounding="double")


def compile_(compiler, *args, cwd=None):
    result = subprocess.run([compiler, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def test_compiled_array_is_the_model_byte_for_byte_and_aligned(cmake_bundle, int8_lanmsff, tmp_path):
    dump = tmp_path / "dump.cc"
    dump.write_text("""
#include <cstdint>
#include <cstdio>
#include "lanmsff_model_data.h"
int main(int, char** argv) {
  FILE* f = std::fopen(argv[1], "wb");
  std::fwrite(g_lanmsff_model_data, 1, g_lanmsff_model_data_len, f);
  std::fclose(f);
  return reinterpret_cast<std::uintptr_t>(g_lanmsff_model_data) % 16 == 0 ? 0 : 3;
}
""")
    binary = tmp_path / "dump"
    compile_(GXX, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-I", cmake_bundle.out, dump,
             cmake_bundle.out / "lanmsff_model_data.cc", "-o", binary)
    result = subprocess.run([binary, tmp_path / "model.bin"], timeout=60)
    assert result.returncode == 0, "array not 16-byte aligned"
    assert (tmp_path / "model.bin").read_bytes() == int8_lanmsff.path.read_bytes()


def test_c_preprocessing_reproduces_the_golden_input_bit_for_bit(cmake_bundle, tmp_path):
    check = tmp_path / "check.cc"
    check.write_text("""
#include <cstdio>
#include "lanmsff_golden.h"
#include "lanmsff_preprocess.h"
int main() {
  int8_t input[kLanmsffInputSize];
  LanmsffPreprocess(g_lanmsff_golden_image, input);
  int mismatches = 0;
  for (int i = 0; i < kLanmsffInputSize; ++i) mismatches += input[i] != g_lanmsff_golden_input[i];
  float total = 0.0f;
  for (int i = 0; i < kLanmsffCategoryCount; ++i) total += LanmsffDequantize(g_lanmsff_golden_output[i]);
  std::printf("%d %d %.4f\\n", mismatches, LanmsffArgMax(g_lanmsff_golden_output), total);
  return 0;
}
""")
    binary = tmp_path / "check"
    compile_(GXX, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-I", cmake_bundle.out, check, "-o", binary)
    mismatches, top, total = subprocess.run([binary], capture_output=True, text=True, timeout=60).stdout.split()
    assert int(mismatches) == 0
    assert int(top) == cmake_bundle.golden_top
    assert float(total) == pytest.approx(1.0, abs=0.03)  # softmax probabilities, quantized in 1/256 steps


def test_example_op_resolver_and_main_compile_against_the_tflm_api(cmake_bundle, stub_tflm):
    for source in ("main_functions.cc", "main.cc", "image_provider.cc", "expression_responder.cc"):
        compile_(GXX, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I", cmake_bundle.out,
                 "-I", stub_tflm, cmake_bundle.out / source)


def test_arduino_sketch_compiles_against_the_tflm_api(int8_lanmsff, stub_tflm, tmp_path):
    out = tmp_path / "Lanmsff"
    export_firmware(int8_lanmsff.path, out, layout="arduino", rounding="double")
    compile_(GXX, "-x", "c++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I", out / "src",
             "-I", stub_tflm, out / "examples" / "lanmsff" / "lanmsff.ino")
    compile_(GXX, "-std=c++17", "-c", "-I", out / "src", out / "src" / "lanmsff_model_data.cc",
             "-o", tmp_path / "model.o")
    for hook in ("image_provider.cpp", "expression_responder.cpp"):  # the platform hooks sit with the sketch
        compile_(GXX, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I", out / "src",
                 "-I", stub_tflm, out / "examples" / "lanmsff" / hook)


HOOKS_DRIVER = """
#include <cstdarg>
#include <cstdio>
#include "expression_responder.h"
#include "image_provider.h"
#include "lanmsff_golden.h"
void MicroPrintf(const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vprintf(format, args);
  va_end(args);
  std::printf("\\n");
}
int main() {
  int8_t input[kLanmsffInputSize];
  if (GetImage(kLanmsffNumCols + 1, kLanmsffNumRows, kLanmsffNumChannels, input) == kTfLiteOk) return 3;
  if (GetImage(kLanmsffNumCols, kLanmsffNumRows, kLanmsffNumChannels, input) != kTfLiteOk) return 2;
  int mismatches = 0;
  for (int i = 0; i < kLanmsffInputSize; ++i) mismatches += input[i] != g_lanmsff_golden_input[i];
  std::printf("mismatches %d first %d\\n", mismatches, input[0]);
  float probabilities[kLanmsffCategoryCount] = {};
  probabilities[3] = 0.75f;
  RespondToExpression(3, "happy", 0.75f, probabilities, kLanmsffCategoryCount);
  return 0;
}
"""

USER_HOOKS = """
#include <cstdio>
#include <cstring>
#include "expression_responder.h"
#include "image_provider.h"
#include "lanmsff_model_settings.h"
TfLiteStatus GetImage(int image_width, int image_height, int channels, int8_t* image_data) {
  if (image_width * image_height * channels != kLanmsffInputSize) return kTfLiteError;
  std::memset(image_data, 7, image_width * image_height * channels);
  return kTfLiteOk;
}
void RespondToExpression(int top_index, const char* label, float score, const float*, int count) {
  std::printf("user responder %d %s %.2f %d\\n", top_index, label, score, count);
}
"""


def test_platform_hooks_default_to_the_golden_face_and_a_users_definitions_override_them(cmake_bundle, stub_tflm,
                                                                                         tmp_path):
    (tmp_path / "driver.cc").write_text(HOOKS_DRIVER)
    (tmp_path / "user_hooks.cc").write_text(USER_HOOKS)
    hooks = [cmake_bundle.out / "image_provider.cc", cmake_bundle.out / "expression_responder.cc"]
    flags = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-I", cmake_bundle.out, "-I", stub_tflm]
    outputs = {}
    for case, extra in (("default", []), ("user", [tmp_path / "user_hooks.cc"])):
        binary = tmp_path / case
        compile_(GXX, *flags, tmp_path / "driver.cc", *hooks, *extra, "-o", binary)
        run = subprocess.run([binary], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, (case, run.returncode, run.stdout)
        outputs[case] = run.stdout
    assert "mismatches 0 " in outputs["default"]  # the golden face, preprocessed: exactly the golden input
    assert "expression: happy (class 3, 750/1000)" in outputs["default"]
    assert "first 7" in outputs["user"] and "mismatches 0 " not in outputs["user"]
    assert "user responder 3 happy 0.75 8" in outputs["user"] and "expression:" not in outputs["user"]


@pytest.mark.skipif(CMAKE is None, reason="cmake not installed")
def test_cmakelists_needs_tflm_dir_and_builds_with_a_tflm_tree(cmake_bundle, stub_tflm, tmp_path):
    result = subprocess.run([CMAKE, "-S", cmake_bundle.out, "-B", tmp_path / "no_tflm"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0 and "-DTFLM_DIR=" in result.stdout + result.stderr
    build = tmp_path / "build"
    configure = subprocess.run([CMAKE, "-S", cmake_bundle.out, "-B", build, f"-DTFLM_DIR={stub_tflm}"],
                               capture_output=True, text=True, timeout=120)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    built = subprocess.run([CMAKE, "--build", build, "-j", "2"], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    assert (build / "lanmsff_self_test").is_file()


@pytest.mark.skipif(ARM_GXX is None or ARM_SIZE is None, reason=" and ".join(
    name for name, path in (("arm-none-eabi-g++", ARM_GXX), ("arm-none-eabi-size", ARM_SIZE)) if path is None)
    + " not installed (Debian: apt-get install gcc-arm-none-eabi binutils-arm-none-eabi)")
def test_cortex_m7_cross_compile_puts_the_model_in_rodata(cmake_bundle, tmp_path, record_property):
    flags = ["-std=c++17", "-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16", "-Os", "-Wall",
             "-Werror", "-I", cmake_bundle.out]
    model_object = tmp_path / "model_data.o"
    compile_(ARM_GXX, *flags, "-c", cmake_bundle.out / "lanmsff_model_data.cc", "-o", model_object)
    sizes = subprocess.run([ARM_SIZE, "-A", model_object], capture_output=True, text=True, check=True).stdout
    rodata = int(next(line.split()[1] for line in sizes.splitlines() if line.startswith(".rodata")))
    record_property("cortex_m7_model_rodata_bytes", rodata)
    print(f"\narm-none-eabi-g++ -mcpu=cortex-m7: .rodata of lanmsff_model_data.o = {rodata} bytes "
          f"(model {cmake_bundle.model_bytes})")
    assert cmake_bundle.model_bytes <= rodata < cmake_bundle.model_bytes + 64  # the array plus its length word
    golden = tmp_path / "golden.cc"
    golden.write_text('#include "lanmsff_golden.h"\n#include "lanmsff_preprocess.h"\n'
                      "int check(int8_t* input) { LanmsffPreprocess(g_lanmsff_golden_image, input);\n"
                      "  return LanmsffArgMax(g_lanmsff_golden_output) == kLanmsffGoldenTopIndex; }\n")
    compile_(ARM_GXX, *flags, "-c", golden, "-o", tmp_path / "golden.o")
    np.testing.assert_array_less(0, (tmp_path / "golden.o").stat().st_size)


HOSTILE_LABELS = ["joy\n#error a label broke out of its comment", "anger */ int broken = ;", "ends in \\",
                  "trigraph ??/", "quote \" and NUL \x00", "tab\tand é", "disgust", "fear"]


def test_a_bundle_with_hostile_labels_and_file_name_compiles_and_keeps_the_users_files(int8_lanmsff, stub_tflm,
                                                                                        tmp_path):
    """Labels and a model file name that could end a comment or a line are sanitised in every generated file; the
    bundle compiles warning-free; a re-export keeps the user's own and edited files (issue 42)."""
    import json

    model = tmp_path / "evil\n#error in a file name \\.tflite"
    model.write_bytes(int8_lanmsff.path.read_bytes())
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps(HOSTILE_LABELS))
    out = tmp_path / "fw"
    export_firmware(model, out, labels=str(labels), layout="cmake")
    sources = sorted(p for p in out.iterdir() if p.suffix in (".cc", ".h"))
    for source in sources:
        compile_(GXX, "-x", "c++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I", out,
                 "-I", stub_tflm, source)
    for source in sources:  # -fsyntax-only would have failed on a live #error; no line may start with one either
        assert not any(line.startswith("#error") for line in source.read_text().splitlines()), source

    (out / "my_camera.cc").write_text("// the user's camera\n")
    (out / "image_provider.cc").write_text((out / "image_provider.cc").read_text() + "// edited by the user\n")
    (out / "thesis.tex").write_text("\\documentclass{article}\n")
    export_firmware(model, out, labels=str(labels), layout="plain")
    assert (out / "my_camera.cc").read_text() == "// the user's camera\n"
    assert (out / "image_provider.cc").read_text().endswith("// edited by the user\n")
    assert (out / "thesis.tex").exists() and not (out / "CMakeLists.txt").exists()
    manifest = json.loads((out / "bundle.json").read_text())
    assert manifest["kept_user_files"] == ["image_provider.cc"] and "image_provider.cc" not in manifest["files"]
