/* test_crc32c.c -- CRC32C: published check values, chaining, and the SSE4.2
 * path against the table path on every length and alignment.
 *
 * The implementation file is included so the test reaches both (static)
 * implementations, not only the one the dispatcher picked; the test binary
 * then defines crc32c itself and the library's copy is not linked in.
 */
#include "../../src/util/crc32c.c"

#include <stdlib.h>

#include "check.h"

static uint32_t crc_sw(const void *p, size_t n)
{
	return ~crc32c_sw(~0u, p, n);
}

static void test_check_values(void)
{
	uint8_t buf[32];

	CHECK_EQ_INT(crc32c(0, "123456789", 9), 0xE3069283u);
	CHECK_EQ_INT(crc_sw("123456789", 9), 0xE3069283u);
	CHECK_EQ_INT(crc32c(0, NULL, 0), 0);
	CHECK_EQ_INT(crc32c(0x12345678u, NULL, 0), 0x12345678u);
	/* iSCSI test vectors (RFC 3720, appendix B.4). */
	memset(buf, 0, sizeof(buf));
	CHECK_EQ_INT(crc32c(0, buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	CHECK_EQ_INT(crc32c(0, buf, sizeof(buf)), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	CHECK_EQ_INT(crc32c(0, buf, sizeof(buf)), 0x46DD794Eu);
	CHECK_EQ_INT(crc_sw(buf, sizeof(buf)), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	CHECK_EQ_INT(crc32c(0, buf, sizeof(buf)), 0x113FDB5Cu);
	CHECK_EQ_INT(crc_sw(buf, sizeof(buf)), 0x113FDB5Cu);
}

/* crc32c(crc32c(0, a), b) == crc32c(0, a b) at every split point. */
static void test_chaining(void)
{
	static const char text[] = "The quick brown fox jumps over the lazy dog, 0123456789!";
	size_t n = sizeof(text) - 1;
	uint32_t whole = crc32c(0, text, n);
	int bad = 0;

	CHECK_EQ_INT(whole, crc_sw(text, n));
	for (size_t k = 0; k <= n; k++) {
		if (crc32c(crc32c(0, text, k), text + k, n - k) != whole)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
}

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* The hardware path handles a head (to 8-byte alignment), 8-byte words and a
 * tail; every combination of offset and length up to a few words is tried. */
static void test_hw_matches_sw(void)
{
	uint8_t *buf = malloc(1024 + 16);
	int bad = 0, compared = 0;

	CHECK(buf != NULL);
	for (size_t i = 0; i < 1024 + 16; i++)
		buf[i] = (uint8_t)rng();
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2")) {
		/* The dispatcher picked the instruction on this CPU. */
		CHECK(atomic_load(&crc32c_impl) == crc32c_hw);
		for (size_t off = 0; off < 16; off++) {
			for (size_t len = 0; len <= 1024; len += len < 80 ? 1 : 37) {
				uint32_t seed = (uint32_t)rng();

				compared++;
				if (crc32c_hw(seed, buf + off, len) !=
				    crc32c_sw(seed, buf + off, len))
					bad++;
			}
		}
		CHECK(compared > 1000);
	} else {
		CHECK(atomic_load(&crc32c_impl) == crc32c_sw);
		fprintf(stderr, "note: no SSE4.2 here; only the table path was checked\n");
	}
#else
	CHECK(atomic_load(&crc32c_impl) == crc32c_sw);
#endif
	/* Whatever was picked agrees with the table on random data. */
	for (int i = 0; i < 2000; i++) {
		size_t off = rng() % 16, len = rng() % 1000;

		if (crc32c(0, buf + off, len) != crc_sw(buf + off, len))
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	free(buf);
}

/* crc32c_copy is memcpy plus crc32c, whatever the offsets and lengths: the
 * crc of the source, every byte copied, nothing past len written. */
static void test_copy(void)
{
	uint8_t src[300], dst[320], want[320];
	int bad = 0, n = 0;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)rng();
	for (size_t so = 0; so < 8; so++) {
		for (size_t dof = 0; dof < 8; dof++) {
			for (size_t len = 0; len + so <= sizeof(src) && len < 90; len++) {
				uint32_t seed = (uint32_t)rng(), c;

				memset(dst, 0xA5, sizeof(dst));
				memset(want, 0xA5, sizeof(want));
				memcpy(want + dof, src + so, len);
				c = crc32c_copy(seed, dst + dof, src + so, len);
				if (c != crc32c(seed, src + so, len) ||
				    memcmp(dst, want, sizeof(dst)) != 0)
					bad++;
				n++;
			}
		}
	}
	CHECK(n > 5000);
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(crc32c_copy(0, dst, "123456789", 9), 0xE3069283u);
	CHECK(memcmp(dst, "123456789", 9) == 0);
}

int main(void)
{
	test_check_values(); /* first call: resolves the implementation */
	test_chaining();
	test_hw_matches_sw();
	test_copy();
	CHECK_DONE();
}
