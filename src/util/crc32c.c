/* crc32c.c -- CRC32C (Castagnoli, reflected polynomial 0x82F63B78).
 *
 * Two implementations of the same function: the SSE4.2 crc32 instruction,
 * 8 bytes per step, and a byte-at-a-time table for CPUs without it.  The
 * first call picks one (the CPU cannot change under a running process) and
 * publishes it through an atomic pointer; later calls are one indirect call.
 */
#include "trades/crc32c.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli polynomial */

typedef uint32_t (*crc32c_fn)(uint32_t crc, const uint8_t *p, size_t len);

static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		crc32c_table[i] = c;
	}
}

/* Portable version; crc is the running (inverted) register. */
static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		crc = crc32c_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
                                                            size_t len)
{
	uint64_t c = crc;
	size_t i = 0;

	/* Bytes up to 8-byte alignment, so the main loop loads aligned words. */
	for (; i < len && ((uintptr_t)(p + i) & 7) != 0; i++)
		c = __builtin_ia32_crc32qi((uint32_t)c, p[i]);
	for (; len - i >= 8; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, sizeof(w));
		c = __builtin_ia32_crc32di(c, w);
	}
	for (; i < len; i++)
		c = __builtin_ia32_crc32qi((uint32_t)c, p[i]);
	return (uint32_t)c;
}

/* crc32c_hw fused with the copy: each word is loaded once, into the crc and
 * to dst. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_copy_hw(uint32_t crc, uint8_t *d,
                                                                 const uint8_t *s, size_t len)
{
	uint64_t c = crc;
	size_t i = 0;

	for (; len - i >= 8; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, sizeof(w));
		c = __builtin_ia32_crc32di(c, w);
		memcpy(d + i, &w, sizeof(w));
	}
	for (; i < len; i++) {
		c = __builtin_ia32_crc32qi((uint32_t)c, s[i]);
		d[i] = s[i];
	}
	return (uint32_t)c;
}
#endif

static uint32_t crc32c_resolve(uint32_t crc, const uint8_t *p, size_t len);

static _Atomic(crc32c_fn) crc32c_impl = crc32c_resolve;

static void crc32c_init(void)
{
	crc32c_fn fn = crc32c_sw;

	/* The table is built even with SSE4.2 so both paths stay testable. */
	crc32c_table_init();
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		fn = crc32c_hw;
#endif
	/* Release: a thread that sees fn also sees the finished table. */
	atomic_store_explicit(&crc32c_impl, fn, memory_order_release);
}

static uint32_t crc32c_resolve(uint32_t crc, const uint8_t *p, size_t len)
{
	crc32c_fn fn;

	pthread_once(&crc32c_once, crc32c_init);
	fn = atomic_load_explicit(&crc32c_impl, memory_order_acquire);
	assert(fn != crc32c_resolve);
	return fn(crc, p, len);
}

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
	crc32c_fn fn = atomic_load_explicit(&crc32c_impl, memory_order_acquire);

	assert(data != NULL || len == 0);
	/* The register is kept inverted so results chain: crc32c(crc32c(0, a), b)
	 * equals crc32c(0, a b). */
	return ~fn(~crc, data, len);
}

uint32_t crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len)
{
	crc32c_fn fn = atomic_load_explicit(&crc32c_impl, memory_order_acquire);

	assert((dst != NULL && src != NULL) || len == 0);
	assert((const uint8_t *)dst + len <= (const uint8_t *)src ||
	       (const uint8_t *)src + len <= (const uint8_t *)dst || len == 0);
#if defined(__x86_64__)
	if (fn == crc32c_hw)
		return ~crc32c_copy_hw(~crc, dst, src, len);
#endif
	if (len > 0)
		memcpy(dst, src, len);
	return crc32c(crc, src, len);
}
