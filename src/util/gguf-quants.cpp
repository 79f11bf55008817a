#include "diagecg/util/gguf-quants.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "diagecg/util/byte-reader.h"

namespace diagecg {

namespace {

constexpr int64_t kQK = 32;     // elements in a Q4_0 .. Q8_0 block
constexpr int64_t kQK_K = 256;  // elements in a K-quant super-block

// Sizes as ggml's type traits give them (Q8_1: two f16 + 32 i8).
constexpr GgmlTypeInfo kTypes[] = {
    {GgmlType::kF32, "F32", 1, 4, true},
    {GgmlType::kF16, "F16", 1, 2, true},
    {GgmlType::kQ4_0, "Q4_0", 32, 18, true},
    {GgmlType::kQ4_1, "Q4_1", 32, 20, true},
    {GgmlType::kQ5_0, "Q5_0", 32, 22, true},
    {GgmlType::kQ5_1, "Q5_1", 32, 24, true},
    {GgmlType::kQ8_0, "Q8_0", 32, 34, true},
    {GgmlType::kQ8_1, "Q8_1", 32, 36, false},
    {GgmlType::kQ2_K, "Q2_K", 256, 84, true},
    {GgmlType::kQ3_K, "Q3_K", 256, 110, true},
    {GgmlType::kQ4_K, "Q4_K", 256, 144, true},
    {GgmlType::kQ5_K, "Q5_K", 256, 176, true},
    {GgmlType::kQ6_K, "Q6_K", 256, 210, true},
    {GgmlType::kQ8_K, "Q8_K", 256, 292, false},
    {GgmlType::kIQ2_XXS, "IQ2_XXS", 256, 66, false},
    {GgmlType::kIQ2_XS, "IQ2_XS", 256, 74, false},
    {GgmlType::kIQ3_XXS, "IQ3_XXS", 256, 98, false},
    {GgmlType::kIQ1_S, "IQ1_S", 256, 50, false},
    {GgmlType::kIQ4_NL, "IQ4_NL", 32, 18, false},
    {GgmlType::kIQ3_S, "IQ3_S", 256, 110, false},
    {GgmlType::kIQ2_S, "IQ2_S", 256, 82, false},
    {GgmlType::kIQ4_XS, "IQ4_XS", 256, 136, false},
    {GgmlType::kI8, "I8", 1, 1, false},
    {GgmlType::kI16, "I16", 1, 2, false},
    {GgmlType::kI32, "I32", 1, 4, false},
    {GgmlType::kI64, "I64", 1, 8, false},
    {GgmlType::kF64, "F64", 1, 8, false},
    {GgmlType::kIQ1_M, "IQ1_M", 256, 56, false},
    {GgmlType::kBF16, "BF16", 1, 2, true},
    {GgmlType::kTQ1_0, "TQ1_0", 256, 54, false},
    {GgmlType::kTQ2_0, "TQ2_0", 256, 66, false},
    {GgmlType::kMXFP4, "MXFP4", 32, 17, false},
    {GgmlType::kNVFP4, "NVFP4", 64, 36, false},
    {GgmlType::kQ1_0, "Q1_0", 128, 18, false},
};

float f16_at(const uint8_t* p) {
    return fp16_to_fp32(load_u16le(p));
}

// Q4_K/Q5_K: scale and min j (0..7) of the 12 packed bytes: j < 4 in the low 6 bits of bytes j and j+4;
// j >= 4 in the nibbles of byte j+4 with the top 2 bits of bytes j-4 and j.
void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void deq_q4_0(const uint8_t* b, float* y) {
    const float d = f16_at(b);
    const uint8_t* qs = b + 2;
    for (int j = 0; j < 16; ++j) {
        y[j] = static_cast<float>((qs[j] & 0xF) - 8) * d;
        y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
    }
}

void deq_q4_1(const uint8_t* b, float* y) {
    const float d = f16_at(b), m = f16_at(b + 2);
    const uint8_t* qs = b + 4;
    for (int j = 0; j < 16; ++j) {
        y[j] = static_cast<float>(qs[j] & 0xF) * d + m;
        y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
    }
}

void deq_q5_0(const uint8_t* b, float* y) {
    const float d = f16_at(b);
    const uint32_t qh = load_u32le(b + 2);
    const uint8_t* qs = b + 6;
    for (int j = 0; j < 16; ++j) {
        const int h0 = static_cast<int>((qh >> j) & 1) << 4, h1 = static_cast<int>((qh >> (j + 16)) & 1) << 4;
        y[j] = static_cast<float>(((qs[j] & 0xF) | h0) - 16) * d;
        y[j + 16] = static_cast<float>(((qs[j] >> 4) | h1) - 16) * d;
    }
}

void deq_q5_1(const uint8_t* b, float* y) {
    const float d = f16_at(b), m = f16_at(b + 2);
    const uint32_t qh = load_u32le(b + 4);
    const uint8_t* qs = b + 8;
    for (int j = 0; j < 16; ++j) {
        const int h0 = static_cast<int>((qh >> j) & 1) << 4, h1 = static_cast<int>((qh >> (j + 16)) & 1) << 4;
        y[j] = static_cast<float>((qs[j] & 0xF) | h0) * d + m;
        y[j + 16] = static_cast<float>((qs[j] >> 4) | h1) * d + m;
    }
}

void deq_q8_0(const uint8_t* b, float* y) {
    const float d = f16_at(b);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
}

void deq_q2_k(const uint8_t* b, float* y) {
    const uint8_t* scales = b;
    const uint8_t* q = b + 16;
    const float d = f16_at(b + 80), dmin = f16_at(b + 82);
    int is = 0;
    for (int n = 0; n < 2; ++n, q += 32) {  // 128 outputs from 32 bytes, 2 bits at shifts 0,2,4,6
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; ++half) {  // 16 outputs per scale
                const uint8_t sc = scales[is++];
                const float dl = d * static_cast<float>(sc & 0xF), ml = dmin * static_cast<float>(sc >> 4);
                for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[16 * half + l] >> shift) & 3) - ml;
            }
        }
    }
}

void deq_q3_k(const uint8_t* b, float* y) {
    const uint8_t* hmask = b;
    const uint8_t* q = b + 32;
    const uint8_t* packed = b + 96;
    const float d = f16_at(b + 108);
    // 16 6-bit scales: low 4 bits from the nibbles of bytes 0..7 (scales 0..7 low nibbles, 8..15 high),
    // high 2 bits from bytes 8..11 (scale i: byte 8 + i%4, bits 2*(i/4)).
    int scales[16];
    for (int i = 0; i < 16; ++i) {
        const int lo = (packed[i % 8] >> (4 * (i / 8))) & 0xF;
        const int hi = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
        scales[i] = (lo | (hi << 4)) - 32;
    }
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < 2; ++n, q += 32) {
        for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
            for (int half = 0; half < 2; ++half) {
                const float dl = d * static_cast<float>(scales[is++]);
                for (int l = 0; l < 16; ++l) {
                    const int k = 16 * half + l;
                    const int v = ((q[k] >> shift) & 3) - ((hmask[k] & m) ? 0 : 4);
                    *y++ = dl * static_cast<float>(v);
                }
            }
        }
    }
}

void deq_q4_k(const uint8_t* b, float* y) {
    const float d = f16_at(b), dmin = f16_at(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* q = b + 16;
    for (int j = 0; j < 8; j += 2, q += 32) {  // 64 outputs per 32 bytes: low nibbles, then high
        uint8_t sc, m;
        scale_min_k4(j, scales, &sc, &m);
        const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
        scale_min_k4(j + 1, scales, &sc, &m);
        const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
        for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
}

void deq_q5_k(const uint8_t* b, float* y) {
    const float d = f16_at(b), dmin = f16_at(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* qh = b + 16;
    const uint8_t* ql = b + 48;
    for (int j = 0; j < 8; j += 2, ql += 32) {
        uint8_t sc, m;
        scale_min_k4(j, scales, &sc, &m);
        const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
        scale_min_k4(j + 1, scales, &sc, &m);
        const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
        const uint8_t u1 = static_cast<uint8_t>(1u << j), u2 = static_cast<uint8_t>(2u << j);
        for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
    }
}

void deq_q6_k(const uint8_t* b, float* y) {
    const uint8_t* ql = b;
    const uint8_t* qh = b + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
    const float d = f16_at(b + 208);
    for (int n = 0; n < 2; ++n, y += 128, ql += 64, qh += 32, sc += 8) {
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
            y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
            y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
            y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
        }
    }
}

template <void (*Block)(const uint8_t*, float*)>
void deq_blocks(const uint8_t* src, float* dst, int64_t n_blocks, int64_t block_size, int64_t type_size) {
    for (int64_t i = 0; i < n_blocks; ++i) Block(src + i * type_size, dst + i * block_size);
}

}  // namespace

const GgmlTypeInfo* ggml_type_info(uint32_t id) {
    for (const auto& t : kTypes)
        if (static_cast<uint32_t>(t.type) == id) return &t;
    return nullptr;
}

const GgmlTypeInfo& ggml_type_info(GgmlType t) {
    const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(t));
    if (!info) throw std::invalid_argument("unknown ggml type id " + std::to_string(static_cast<uint32_t>(t)));
    return *info;
}

const char* ggml_type_name(GgmlType t) {
    const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(t));
    return info ? info->name : "?";
}

const GgmlTypeInfo* ggml_type_by_name(const char* name) {
    for (const auto& t : kTypes)
        if (std::strcmp(t.name, name) == 0) return &t;
    return nullptr;
}

uint64_t ggml_row_bytes(GgmlType t, int64_t n) {
    const GgmlTypeInfo& info = ggml_type_info(t);
    if (n < 0 || n % info.block_size != 0)
        throw std::invalid_argument(std::string(info.name) + ": " + std::to_string(n) +
                                    " elements is not a multiple of the block size " + std::to_string(info.block_size));
    return static_cast<uint64_t>(n / info.block_size) * static_cast<uint64_t>(info.type_size);
}

float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in float
        const float v = static_cast<float>(mant) * (1.0f / 16777216.0f);
        std::memcpy(&bits, &v, 4);
        bits |= sign;
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t fp32_to_fp16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
    const uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00 | ((ax >> 13) & 0x3FF));  // quiet NaN
    if (ax >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00);  // rounds to inf (>= 65520)
    if (ax < 0x38800000u) {  // below 2^-14: subnormal half, round(|f| * 2^24) to nearest even
        float a;
        std::memcpy(&a, &ax, 4);
        return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0f)));
    }
    const uint32_t odd = (ax >> 13) & 1;
    return static_cast<uint16_t>(sign | ((ax - (112u << 23) + 0xFFFu + odd) >> 13));
}

float bf16_to_fp32(uint16_t h) {
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t fp32_to_bf16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 64);  // quiet NaN
    return static_cast<uint16_t>((static_cast<uint64_t>(x) + 0x7FFFu + ((x >> 16) & 1)) >> 16);
}

void dequantize(GgmlType t, const void* src_v, float* dst, int64_t n) {
    const GgmlTypeInfo& info = ggml_type_info(t);
    if (!info.dequantizable)
        throw std::invalid_argument(std::string("ggml type ") + info.name +
                                    " cannot be dequantized (supported: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 "
                                    "Q2_K Q3_K Q4_K Q5_K Q6_K)");
    ggml_row_bytes(t, n);  // checks n
    const auto* src = static_cast<const uint8_t*>(src_v);
    const int64_t nb = n / info.block_size;
    switch (t) {
        case GgmlType::kF32:
            std::memcpy(dst, src, static_cast<size_t>(n) * 4);
            return;
        case GgmlType::kF16:
            for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(load_u16le(src + 2 * i));
            return;
        case GgmlType::kBF16:
            for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(load_u16le(src + 2 * i));
            return;
        case GgmlType::kQ4_0:
            return deq_blocks<deq_q4_0>(src, dst, nb, kQK, info.type_size);
        case GgmlType::kQ4_1:
            return deq_blocks<deq_q4_1>(src, dst, nb, kQK, info.type_size);
        case GgmlType::kQ5_0:
            return deq_blocks<deq_q5_0>(src, dst, nb, kQK, info.type_size);
        case GgmlType::kQ5_1:
            return deq_blocks<deq_q5_1>(src, dst, nb, kQK, info.type_size);
        case GgmlType::kQ8_0:
            return deq_blocks<deq_q8_0>(src, dst, nb, kQK, info.type_size);
        case GgmlType::kQ2_K:
            return deq_blocks<deq_q2_k>(src, dst, nb, kQK_K, info.type_size);
        case GgmlType::kQ3_K:
            return deq_blocks<deq_q3_k>(src, dst, nb, kQK_K, info.type_size);
        case GgmlType::kQ4_K:
            return deq_blocks<deq_q4_k>(src, dst, nb, kQK_K, info.type_size);
        case GgmlType::kQ5_K:
            return deq_blocks<deq_q5_k>(src, dst, nb, kQK_K, info.type_size);
        case GgmlType::kQ6_K:
            return deq_blocks<deq_q6_k>(src, dst, nb, kQK_K, info.type_size);
        default:
            break;
    }
    throw std::invalid_argument(std::string("ggml type ") + info.name + " has no dequantizer");
}

}  // namespace diagecg
