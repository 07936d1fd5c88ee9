#ifndef CWIREKERNELS_H
#define CWIREKERNELS_H

#include <stddef.h>
#include <stdint.h>

// Vector kernels for the wire codec, used by Common's Base64URL and Fernet for the bulk of long inputs.
// Swift cannot compile one function for AVX2 or SHA-NI, so these are C, each compiled for the features it
// needs and called only when the matching *_available() says the CPU (and the OS) has them. They process
// whole blocks only and return how much they consumed; the callers finish tails and padding themselves.

/// 1 when the CPU and the operating system support AVX2 (YMM state enabled), else 0.
int cwk_avx2_available(void);

/// 1 when the CPU has the SHA extensions, SSSE3 and SSE4.1, else 0.
int cwk_sha_available(void);

/// Base64url: encodes 24-byte blocks of `src` into 32 characters each while at least 28 bytes remain
/// (each step reads 4 bytes past the block it encodes). Returns the number of input bytes consumed, a
/// multiple of 24; 4/3 of it characters were written to `dst`. AVX2.
size_t cwk_b64_encode_avx2(const uint8_t *src, size_t length, uint8_t *dst);

/// Base64url: decodes 32-character blocks of `src` (no padding: '=' is invalid here) into 24 bytes each
/// while at least 32 characters remain. Returns the number of characters consumed, a multiple of 32; 3/4
/// of it bytes were written to `dst`. Sets `*invalid` to 1 if any consumed character is outside the
/// base64url alphabet (leaves it alone otherwise); the bytes written are then meaningless. AVX2.
size_t cwk_b64_decode_avx2(const uint8_t *src, size_t length, uint8_t *dst, int *invalid);

/// SHA-256 (FIPS 180-4) compression of `blocks` 64-byte blocks into `state` (H0..H7 in order). SHA-NI.
void cwk_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

/// Decodes `groups` groups of 256 base64url characters (no padding) into 192 bytes each at `dst`, and
/// feeds the decoded bytes (3 SHA-256 blocks per group) into `state`, in one loop: the hashing of a group
/// and the decoding of the next one are independent, so the CPU runs them side by side. Returns 1 if a
/// character was outside the alphabet (`dst` and `state` are then meaningless), else 0. AVX2 and SHA-NI.
int cwk_b64_decode_sha256(const uint8_t *src, size_t groups, uint8_t *dst, uint32_t state[8]);

#endif
