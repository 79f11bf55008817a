// A model as a GGUF file that llama.cpp loads (`diagecg quantize`): architecture `llama`, the Q/K rows
// interleaved per head as llama.cpp's converter writes them, 2-D weights in one ggml type (Q8_0, Q4_0, Q4_1, Q4_K,
// Q6_K by quantize_weight, or F16/BF16/F32), norms in F32. The tokenizer is the GGUF metadata the model came
// with (a .gguf, a directory with tokenizer.gguf, or a directory on a GGUF base); an ECG-extended model's
// extra ids are appended to its token list as user-defined tokens (<ecg_0000> .. <|pad|>, as diagecg spells
// them) and its config.json goes along as `diagecg.config`.
#pragma once

#include <string>

#include "diagecg/llm/llm-io.h"
#include "diagecg/util/gguf-quants.h"

namespace diagecg {

// "q8_0" | "q4_0" | "q4_1" | "q4_k" | "q6_k" | "f16" | "bf16" | "f32"; throws std::invalid_argument naming the choices.
GgmlType parse_export_type(const std::string& name);

// Writes `m` (loaded in f32) to `out` (atomically). `tokenizer_gguf`: the GGUF whose tokenizer.* metadata the
// model's text ids follow. Matrices whose rows are not a multiple of 32 stay F32 (logged). Throws
// std::runtime_error for what llama's GGUF layout cannot hold here (q/k/v biases, llama3 rope scaling) or a
// tokenizer with more text ids than the model's vocabulary.
void export_gguf(const LoadedModel& m, const std::string& tokenizer_gguf, const std::string& out, GgmlType type);

}  // namespace diagecg
