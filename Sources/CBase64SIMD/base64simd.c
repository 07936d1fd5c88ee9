#include "CBase64SIMD.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

int cb64_avx2_available(void) {
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
size_t cb64_encode_avx2(const uint8_t *src, size_t length, uint8_t *dst) {
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

// Decoding, 32 characters per step:
// 1. Validity by nibbles: each high nibble 2..7 has a bit in `classHigh` (every other high nibble, and
//    so every byte >= 0x80, has bit 6); `invalidLow` holds, for each low nibble, the bits of the high
//    nibbles with which it is not in the alphabet (and bit 6 always). A character is invalid when the two
//    lookups share a bit.
// 2. Value = character + offset of its high nibble ('-' +17, digits +4, A-Z -65, a-z -71), except '_'
//    (high nibble 5, like P-Z) whose offset is -32.
// 3. Packing: a multiply-add of byte pairs gives v0*64+v1 and v2*64+v3 (12 bits each), a second one
//    v0:v1*4096+v2:v3 (24 bits per 32-bit word, least significant byte first); a shuffle takes the three
//    bytes of each word most significant first and a cross-lane permute closes the gap between lanes.
__attribute__((target("avx2")))
size_t cb64_decode_avx2(const uint8_t *src, size_t length, uint8_t *dst, int *invalid) {
    const __m256i invalidLow = _mm256_setr_epi8(
        0x55, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x43, 0x6B, 0x6B, 0x6A, 0x6B, 0x63,
        0x55, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x43, 0x6B, 0x6B, 0x6A, 0x6B, 0x63);
    const __m256i classHigh = _mm256_setr_epi8(
        0x40, 0x40, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40,
        0x40, 0x40, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40);
    const __m256i offsets = _mm256_setr_epi8(
        0, 0, 17, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 17, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    const __m256i underscore = _mm256_set1_epi8('_');
    const __m256i underscoreOffset = _mm256_set1_epi8(-32);
    const __m256i pairs = _mm256_set1_epi32(0x01400140);
    const __m256i quads = _mm256_set1_epi32(0x00011000);
    const __m256i gather = _mm256_setr_epi8(
        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,
        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    const __m256i close = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
    __m256i errors = _mm256_setzero_si256();
    size_t i = 0;
    uint8_t *out = dst;
    while (length - i >= 32) {
        __m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        __m256i high = _mm256_and_si256(_mm256_srli_epi32(c, 4), nibble);
        __m256i low = _mm256_and_si256(c, nibble);
        errors = _mm256_or_si256(errors, _mm256_and_si256(_mm256_shuffle_epi8(invalidLow, low),
                                                          _mm256_shuffle_epi8(classHigh, high)));
        __m256i offset = _mm256_blendv_epi8(_mm256_shuffle_epi8(offsets, high), underscoreOffset,
                                            _mm256_cmpeq_epi8(c, underscore));
        __m256i values = _mm256_add_epi8(c, offset);
        __m256i words = _mm256_madd_epi16(_mm256_maddubs_epi16(values, pairs), quads);
        __m256i packed = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(words, gather), close);
        _mm_storeu_si128((__m128i *)(void *)out, _mm256_castsi256_si128(packed));
        _mm_storel_epi64((__m128i *)(void *)(out + 16), _mm256_extracti128_si256(packed, 1));
        i += 32;
        out += 24;
    }
    if (!_mm256_testz_si256(errors, errors)) *invalid = 1;
    return i;
}

#else

int cb64_avx2_available(void) { return 0; }
size_t cb64_encode_avx2(const uint8_t *src, size_t length, uint8_t *dst) {
    (void)src; (void)length; (void)dst;
    return 0;
}
size_t cb64_decode_avx2(const uint8_t *src, size_t length, uint8_t *dst, int *invalid) {
    (void)src; (void)length; (void)dst; (void)invalid;
    return 0;
}

#endif
