#ifndef CBASE64SIMD_H
#define CBASE64SIMD_H

#include <stddef.h>
#include <stdint.h>

/// Vector kernels for base64url (RFC 4648 §5), used by Common's Base64URL for the bulk of long inputs.
/// They process whole blocks only and return how much they consumed; the caller finishes the tail
/// (and the padding) itself. Call them only when cb64_avx2_available() says so.

/// 1 when the CPU and the operating system support AVX2 (YMM state enabled), else 0.
int cb64_avx2_available(void);

/// Encodes 24-byte blocks of `src` into 32 characters each while at least 28 bytes remain (each step
/// reads 4 bytes past the block it encodes). Returns the number of input bytes consumed, a multiple of 24;
/// 4/3 of it characters were written to `dst`.
size_t cb64_encode_avx2(const uint8_t *src, size_t length, uint8_t *dst);

/// Decodes 32-character blocks of `src` (no padding: '=' is invalid here) into 24 bytes each while at
/// least 32 characters remain. Returns the number of characters consumed, a multiple of 32; 3/4 of it
/// bytes were written to `dst`. Sets `*invalid` to 1 if any consumed character is outside the base64url
/// alphabet (leaves it alone otherwise); the bytes written are then meaningless.
size_t cb64_decode_avx2(const uint8_t *src, size_t length, uint8_t *dst, int *invalid);

#endif
