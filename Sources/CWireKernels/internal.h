#ifndef CWIREKERNELS_INTERNAL_H
#define CWIREKERNELS_INTERNAL_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>

// One step of the AVX2 base64url decoder, shared by base64.c and sha256.c: 32 characters at `src` → 24
// bytes at `dst`. Returns a vector that is non-zero where a character is outside the alphabet.
//
// 1. Validity by nibbles: each high nibble 2..7 has a bit (2: 0x01 ... 7: 0x20); every other high nibble,
//    so every byte >= 0x80, has bit 6. The low-nibble table holds, for each low nibble, the bits of the
//    high nibbles with which it is not in the alphabet (and always bit 6). A character is invalid when
//    the two lookups share a bit.
// 2. Value = character + offset of its high nibble ('-' +17, digits +4, A-Z -65, a-z -71), except '_'
//    (high nibble 5, like P-Z) whose offset is -32.
// 3. Packing: a multiply-add of byte pairs gives v0*64+v1 and v2*64+v3 (12 bits each), a second one
//    (v0:v1)*4096+(v2:v3) (24 bits per 32-bit word, least significant byte first); a shuffle takes the
//    three bytes of each word most significant first and a cross-lane permute closes the gap between lanes.
__attribute__((target("avx2"), always_inline))
static inline __m256i cwk_decode32(const uint8_t *src, uint8_t *dst) {
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

    __m256i c = _mm256_loadu_si256((const __m256i *)(const void *)src);
    __m256i high = _mm256_and_si256(_mm256_srli_epi32(c, 4), nibble);
    __m256i low = _mm256_and_si256(c, nibble);
    __m256i errors = _mm256_and_si256(_mm256_shuffle_epi8(invalidLow, low), _mm256_shuffle_epi8(classHigh, high));
    __m256i offset = _mm256_blendv_epi8(_mm256_shuffle_epi8(offsets, high), underscoreOffset,
                                        _mm256_cmpeq_epi8(c, underscore));
    __m256i values = _mm256_add_epi8(c, offset);
    __m256i words = _mm256_madd_epi16(_mm256_maddubs_epi16(values, pairs), quads);
    __m256i packed = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(words, gather), close);
    _mm_storeu_si128((__m128i *)(void *)dst, _mm256_castsi256_si128(packed));
    _mm_storel_epi64((__m128i *)(void *)(dst + 16), _mm256_extracti128_si256(packed, 1));
    return errors;
}

#endif
#endif
