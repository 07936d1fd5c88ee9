#include "CWireKernels.h"
#include "internal.h"

#if defined(__x86_64__)
#include <cpuid.h>

int cwk_sha_available(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 9)) || !(c & (1u << 19))) return 0;  // SSSE3 (ECX bit 9), SSE4.1 (ECX bit 19)
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & (1u << 29)) ? 1 : 0;  // SHA extensions: leaf 7 EBX bit 29
}

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
static const uint32_t roundConstants[64] __attribute__((aligned(16))) = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u,
    0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u,
    0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu,
    0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u,
    0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u,
    0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u,
    0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
    0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u
};

// The SHA-NI instructions keep the eight working variables in two registers, ABEF and CDGH (A and C in
// the top lane). sha256rnds2(cdgh, abef, wk) runs two rounds with the two low words of wk (W[t] + K[t])
// and returns the new ABEF; the old ABEF is then the new CDGH. sha256msg1/msg2 compute the message
// schedule (FIPS 180-4 §6.2.2 step 1) four words at a time.
__attribute__((target("sha,sse4.1,ssse3"), always_inline))
static inline void cwk_load_state(const uint32_t state[8], __m128i *abef, __m128i *cdgh) {
    __m128i abcd = _mm_loadu_si128((const __m128i *)(const void *)state);      // lanes A B C D (A lowest)
    __m128i efgh = _mm_loadu_si128((const __m128i *)(const void *)(state + 4));  // lanes E F G H
    __m128i badc = _mm_shuffle_epi32(abcd, 0xB1);                              // B A D C
    __m128i hgfe = _mm_shuffle_epi32(efgh, 0x1B);                              // H G F E
    *abef = _mm_alignr_epi8(badc, hgfe, 8);                                    // F E B A
    *cdgh = _mm_blend_epi16(hgfe, badc, 0xF0);                                 // H G D C
}

__attribute__((target("sha,sse4.1,ssse3"), always_inline))
static inline void cwk_store_state(uint32_t state[8], __m128i abef, __m128i cdgh) {
    __m128i abef_r = _mm_shuffle_epi32(abef, 0x1B);   // A B E F
    __m128i ghcd = _mm_shuffle_epi32(cdgh, 0xB1);     // G H C D
    _mm_storeu_si128((__m128i *)(void *)state, _mm_blend_epi16(abef_r, ghcd, 0xF0));          // A B C D
    _mm_storeu_si128((__m128i *)(void *)(state + 4), _mm_alignr_epi8(ghcd, abef_r, 8));       // E F G H
}

__attribute__((target("sha,sse4.1,ssse3"), always_inline))
static inline void cwk_compress(__m128i *abefState, __m128i *cdghState, const uint8_t *block) {
    const __m128i byteSwap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i abef = *abefState, cdgh = *cdghState;
    __m128i w[4];
#pragma clang loop unroll(full)
    for (int r = 0; r < 16; r++) {
        __m128i words;
        if (r < 4) {
            words = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(block + 16 * r)), byteSwap);
        } else {
            // W[t..t+3] from W[t-16..t-13] (w[r&3]), W[t-12..] (w[r+1]), W[t-8..] (w[r+2]), W[t-4..] (w[r+3]).
            __m128i t = _mm_sha256msg1_epu32(w[r & 3], w[(r + 1) & 3]);
            t = _mm_add_epi32(t, _mm_alignr_epi8(w[(r + 3) & 3], w[(r + 2) & 3], 4));
            words = _mm_sha256msg2_epu32(t, w[(r + 3) & 3]);
        }
        w[r & 3] = words;
        __m128i wk = _mm_add_epi32(words, _mm_load_si128((const __m128i *)(const void *)(roundConstants + 4 * r)));
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
    }
    *abefState = _mm_add_epi32(*abefState, abef);
    *cdghState = _mm_add_epi32(*cdghState, cdgh);
}

__attribute__((target("sha,sse4.1,ssse3")))
void cwk_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks) {
    __m128i abef, cdgh;
    cwk_load_state(state, &abef, &cdgh);
    for (size_t b = 0; b < blocks; b++) cwk_compress(&abef, &cdgh, data + 64 * b);
    cwk_store_state(state, abef, cdgh);
}

// SHA-NI rounds form one long dependency chain and leave most execution ports idle; the base64 decoding
// of the next group does not depend on it, so program order "decode group g, hash group g-1" lets the
// out-of-order core overlap the two. The SHA instructions exist only in legacy SSE encoding, which must
// not run while the upper halves of the YMM registers are dirty (a penalty on every instruction), so the
// AVX2 decoding of a group is a function of its own, which the compiler ends with vzeroupper, and the
// hashing side uses no YMM register.
__attribute__((target("avx2"), noinline))
static int cwk_decode_group(const uint8_t *src, uint8_t *dst) {
    __m256i errors = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) errors = _mm256_or_si256(errors, cwk_decode32(src + 32 * k, dst + 24 * k));
    return _mm256_testz_si256(errors, errors) ? 0 : 1;
}

__attribute__((target("sha,sse4.1,ssse3")))
int cwk_b64_decode_sha256(const uint8_t *src, size_t groups, uint8_t *dst, uint32_t state[8]) {
    if (groups == 0) return 0;
    __m128i abef, cdgh;
    cwk_load_state(state, &abef, &cdgh);
    int invalid = cwk_decode_group(src, dst);
    for (size_t g = 1; g < groups; g++) {
        invalid |= cwk_decode_group(src + 256 * g, dst + 192 * g);
        const uint8_t *previous = dst + 192 * (g - 1);
        cwk_compress(&abef, &cdgh, previous);
        cwk_compress(&abef, &cdgh, previous + 64);
        cwk_compress(&abef, &cdgh, previous + 128);
    }
    const uint8_t *last = dst + 192 * (groups - 1);
    cwk_compress(&abef, &cdgh, last);
    cwk_compress(&abef, &cdgh, last + 64);
    cwk_compress(&abef, &cdgh, last + 128);
    cwk_store_state(state, abef, cdgh);
    return invalid;
}

#else

int cwk_sha_available(void) { return 0; }
void cwk_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks) {
    (void)state; (void)data; (void)blocks;
}
int cwk_b64_decode_sha256(const uint8_t *src, size_t groups, uint8_t *dst, uint32_t state[8]) {
    (void)src; (void)groups; (void)dst; (void)state;
    return 1;
}

#endif
