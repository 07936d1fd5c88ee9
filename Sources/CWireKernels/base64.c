#include "CWireKernels.h"
#include "internal.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

int cwk_avx2_available(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    // OSXSAVE (ECX bit 27) and AVX (ECX bit 28).
    if (!(c & (1u << 27)) || !(c & (1u << 28))) return 0;
    // XCR0: the OS saves XMM (bit 1) and YMM (bit 2) state.
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    if ((lo & 6u) != 6u) return 0;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & (1u << 5)) ? 1 : 0;  // AVX2: leaf 7 EBX bit 5
}

// Encoding, per 128-bit lane of 12 input bytes (four groups a b c):
// 1. A byte shuffle puts each group in a 32-bit word as the bytes b a c b, so that the low 16 bits hold
//    a:b and the high 16 bits hold b:c (most significant byte first).
// 2. The four 6-bit indices are a:b bits 15..10 and 9..4, b:c bits 11..6 and 5..0. Two masks pick the
//    first and third, a high-half multiply shifts them right by 10 and 6 (to bytes 0 and 2); the other two
//    are shifted left by 4 and 8 (to bytes 1 and 3) with a low-half multiply.
// 3. An index becomes its character by adding a per-range offset: A-Z +65, a-z +71, 0-9 -4, '-' -17,
//    '_' +32. The range number is a saturating subtraction of 51 (0 below 52, then 1..12), less one more
//    for indices above 25; a 16-entry table lookup turns it into the offset.
__attribute__((target("avx2")))
size_t cwk_b64_encode_avx2(const uint8_t *src, size_t length, uint8_t *dst) {
    const __m256i spread = _mm256_setr_epi8(
        1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
        1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    const __m256i maskHigh = _mm256_set1_epi32(0x0FC0FC00);
    const __m256i shiftHigh = _mm256_set1_epi32(0x04000040);
    const __m256i maskLow = _mm256_set1_epi32(0x003F03F0);
    const __m256i shiftLow = _mm256_set1_epi32(0x01000010);
    const __m256i offsets = _mm256_setr_epi8(
        65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -17, 32, 0, 0,
        65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -17, 32, 0, 0);
    const __m256i c51 = _mm256_set1_epi8(51);
    const __m256i c25 = _mm256_set1_epi8(25);
    size_t i = 0;
    uint8_t *out = dst;
    while (length - i >= 28) {
        __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 12));
        __m256i in = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
        in = _mm256_shuffle_epi8(in, spread);
        __m256i first = _mm256_mulhi_epu16(_mm256_and_si256(in, maskHigh), shiftHigh);
        __m256i second = _mm256_mullo_epi16(_mm256_and_si256(in, maskLow), shiftLow);
        __m256i indices = _mm256_or_si256(first, second);
        __m256i range = _mm256_sub_epi8(_mm256_subs_epu8(indices, c51), _mm256_cmpgt_epi8(indices, c25));
        __m256i chars = _mm256_add_epi8(indices, _mm256_shuffle_epi8(offsets, range));
        _mm256_storeu_si256((__m256i *)(void *)out, chars);
        i += 24;
        out += 32;
    }
    return i;
}

// Decoding: cwk_decode32 (internal.h) per 32 characters.
__attribute__((target("avx2")))
size_t cwk_b64_decode_avx2(const uint8_t *src, size_t length, uint8_t *dst, int *invalid) {
    __m256i errors = _mm256_setzero_si256();
    size_t i = 0;
    uint8_t *out = dst;
    while (length - i >= 32) {
        errors = _mm256_or_si256(errors, cwk_decode32(src + i, out));
        i += 32;
        out += 24;
    }
    if (!_mm256_testz_si256(errors, errors)) *invalid = 1;
    return i;
}

#else

int cwk_avx2_available(void) { return 0; }
size_t cwk_b64_encode_avx2(const uint8_t *src, size_t length, uint8_t *dst) {
    (void)src; (void)length; (void)dst;
    return 0;
}
size_t cwk_b64_decode_avx2(const uint8_t *src, size_t length, uint8_t *dst, int *invalid) {
    (void)src; (void)length; (void)dst; (void)invalid;
    return 0;
}

#endif
