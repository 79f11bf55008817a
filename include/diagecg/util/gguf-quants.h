// ggml tensor types as stored in GGUF files, their block sizes, and dequantization to float32 exactly as
// llama.cpp's reference (scalar) dequantizers compute it. Block layouts, all little-endian, f16 = IEEE half,
// y = the block's output values in order (from ggml's ggml-common.h and gguf-py's quants):
//  1. Q4_0  (32, 18 B): f16 d, u8 qs[16]; y[j] = d*((qs[j]&15)-8), y[j+16] = d*((qs[j]>>4)-8).
//  2. Q4_1  (32, 20 B): f16 d, f16 m, u8 qs[16]; as Q4_0 without the -8, then +m.
//  3. Q5_0  (32, 22 B): f16 d, u32 qh, u8 qs[16]; the 5th bit of y[j] is bit j of qh; -16.
//  4. Q5_1  (32, 24 B): f16 d, f16 m, u32 qh, u8 qs[16]; as Q5_0 without the -16, then +m.
//  5. Q8_0  (32, 34 B): f16 d, i8 qs[32]; y[j] = d*qs[j].
//  6. Q2_K (256, 84 B): u8 scales[16] (lo nibble scale, hi nibble min), u8 qs[64] (2 bits), f16 d, f16 dmin.
//  7. Q3_K (256, 110 B): u8 hmask[32] (3rd bit, set = no -4), u8 qs[64] (2 bits), u8 scales[12] (16 x 6 bit,
//     -32), f16 d.
//  8. Q4_K (256, 144 B): f16 d, f16 dmin, u8 scales[12] (8 scales + 8 mins, 6 bit), u8 qs[128] (4 bits).
//  9. Q5_K (256, 176 B): f16 d, f16 dmin, u8 scales[12], u8 qh[32] (5th bit), u8 qs[128].
// 10. Q6_K (256, 210 B): u8 ql[128] (low 4 bits), u8 qh[64] (high 2 bits), i8 scales[16], f16 d; -32.
// F32, F16 and BF16 are single values. Every other ggml type is known by name and size (so GGUF files that
// hold them can be read) but refused by dequantize().
#pragma once

#include <cstdint>

namespace diagecg {

// ggml_type ids (ggml.h); the gaps are ids ggml has retired.
enum class GgmlType : uint32_t {
    kF32 = 0,
    kF16 = 1,
    kQ4_0 = 2,
    kQ4_1 = 3,
    kQ5_0 = 6,
    kQ5_1 = 7,
    kQ8_0 = 8,
    kQ8_1 = 9,
    kQ2_K = 10,
    kQ3_K = 11,
    kQ4_K = 12,
    kQ5_K = 13,
    kQ6_K = 14,
    kQ8_K = 15,
    kIQ2_XXS = 16,
    kIQ2_XS = 17,
    kIQ3_XXS = 18,
    kIQ1_S = 19,
    kIQ4_NL = 20,
    kIQ3_S = 21,
    kIQ2_S = 22,
    kIQ4_XS = 23,
    kI8 = 24,
    kI16 = 25,
    kI32 = 26,
    kI64 = 27,
    kF64 = 28,
    kIQ1_M = 29,
    kBF16 = 30,
    kTQ1_0 = 34,
    kTQ2_0 = 35,
    kMXFP4 = 39,
    kNVFP4 = 40,
    kQ1_0 = 41,
};

struct GgmlTypeInfo {
    GgmlType type;
    const char* name;    // as ggml and gguf-py spell it: "Q4_K", "BF16"
    int64_t block_size;  // elements per block
    int64_t type_size;   // bytes per block
    bool dequantizable;  // dequantize() supports it
};

// The type with ggml id `id`, or nullptr when ggml defines no such type.
const GgmlTypeInfo* ggml_type_info(uint32_t id);
const GgmlTypeInfo& ggml_type_info(GgmlType t);
const char* ggml_type_name(GgmlType t);
// The type named `name` ("Q4_K", case-sensitive), or nullptr.
const GgmlTypeInfo* ggml_type_by_name(const char* name);

// Bytes taken by n elements of type t; throws std::invalid_argument when n is negative or not a
// multiple of t's block size.
uint64_t ggml_row_bytes(GgmlType t, int64_t n);

// IEEE half and bfloat16 <-> float32. fp16_to_fp32 is exact (subnormals, inf, NaN payloads kept);
// fp32_to_fp16 and fp32_to_bf16 round to nearest even (NaN stays NaN), as ggml does.
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

// src: n elements of type t, packed as in a GGUF file -> dst: n float32.
// Throws std::invalid_argument naming the type when dequantize() does not support it, or when n is not a
// multiple of its block size.
void dequantize(GgmlType t, const void* src, float* dst, int64_t n);

}  // namespace diagecg
