// TFLite Micro on this computer, for lanmsff-edge's parity backends: MODEL.tflite runs on raw inputs read from
// stdin, its raw outputs are written to stdout. Written by lanmsff-edge; built against a TFLM tree's static library
// with the op resolver in tflm_runner_ops.h (the model's Add...() calls).
//
// Protocol: after AllocateTensors the runner writes one line "ready ARENA_USED_BYTES\n". Then, per inference, it
// reads the bytes of every input tensor (in order, concatenated) and writes the bytes of every output tensor (in
// order, concatenated), flushed; it stops at the end of stdin. Errors go to stderr with a non-zero exit status.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tflm_runner_ops.h"  // kRunnerOpCount, AddRunnerOps(resolver)

namespace {

bool ReadAll(void* buffer, size_t bytes) { return std::fread(buffer, 1, bytes, stdin) == bytes; }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL.tflite ARENA_BYTES\n", argv[0]);
    return 2;
  }
  std::FILE* file = std::fopen(argv[1], "rb");
  if (file == nullptr) {
    std::fprintf(stderr, "cannot open %s\n", argv[1]);
    return 2;
  }
  std::fseek(file, 0, SEEK_END);
  const long model_bytes = std::ftell(file);
  std::fseek(file, 0, SEEK_SET);
  // 16-byte aligned, as a firmware's model array is
  uint8_t* model_data = static_cast<uint8_t*>(std::aligned_alloc(16, (model_bytes + 15) / 16 * 16));
  if (model_data == nullptr || std::fread(model_data, 1, model_bytes, file) != static_cast<size_t>(model_bytes)) {
    std::fprintf(stderr, "cannot read %s\n", argv[1]);
    return 2;
  }
  std::fclose(file);
  const size_t arena_bytes = std::strtoull(argv[2], nullptr, 10) / 16 * 16;
  uint8_t* arena = static_cast<uint8_t*>(std::aligned_alloc(16, arena_bytes));
  if (arena == nullptr) {
    std::fprintf(stderr, "cannot allocate a %zu-byte arena\n", arena_bytes);
    return 2;
  }

  const tflite::Model* model = tflite::GetModel(model_data);
  static tflite::MicroMutableOpResolver<kRunnerOpCount> resolver;
  if (AddRunnerOps(resolver) != kTfLiteOk) {
    std::fprintf(stderr, "registering the ops failed\n");
    return 3;
  }
  tflite::MicroInterpreter interpreter(model, resolver, arena, arena_bytes);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    std::fprintf(stderr, "AllocateTensors failed in a %zu-byte arena\n", arena_bytes);
    return 3;
  }
  size_t input_bytes = 0, output_bytes = 0;
  for (size_t i = 0; i < interpreter.inputs_size(); ++i) input_bytes += interpreter.input(i)->bytes;
  for (size_t i = 0; i < interpreter.outputs_size(); ++i) output_bytes += interpreter.output(i)->bytes;
  std::vector<uint8_t> buffer(input_bytes > output_bytes ? input_bytes : output_bytes);
  std::printf("ready %zu\n", interpreter.arena_used_bytes());
  std::fflush(stdout);

  while (ReadAll(buffer.data(), input_bytes)) {
    size_t offset = 0;
    for (size_t i = 0; i < interpreter.inputs_size(); ++i) {
      TfLiteTensor* tensor = interpreter.input(i);
      std::memcpy(tensor->data.raw, buffer.data() + offset, tensor->bytes);
      offset += tensor->bytes;
    }
    if (interpreter.Invoke() != kTfLiteOk) {
      std::fprintf(stderr, "Invoke failed\n");
      return 4;
    }
    offset = 0;
    for (size_t i = 0; i < interpreter.outputs_size(); ++i) {
      const TfLiteTensor* tensor = interpreter.output(i);
      std::memcpy(buffer.data() + offset, tensor->data.raw, tensor->bytes);
      offset += tensor->bytes;
    }
    if (std::fwrite(buffer.data(), 1, output_bytes, stdout) != output_bytes || std::fflush(stdout) != 0) return 5;
    interpreter.Reset();  // variable tensors back to zero: every input is a fresh inference
  }
  return 0;
}
