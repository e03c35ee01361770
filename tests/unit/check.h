/* check.h -- the unit tests' whole framework: CHECK counts, a failure prints
 * file:line and the expression, main returns non-zero if anything failed.
 * Meson runs each test binary; its exit status is the verdict. */
#ifndef TRADES_CHECK_H
#define TRADES_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failed;
static int check_run;

#define CHECK(expr)                                                                                \
	do {                                                                                       \
		check_run++;                                                                       \
		if (!(expr)) {                                                                     \
			check_failed++;                                                            \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr);   \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
	do {                                                                                       \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);                    \
		check_run++;                                                                       \
		if (check_a_ != check_b_) {                                                        \
			check_failed++;                                                            \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__,      \
			        __LINE__, #a, check_a_, #b, check_b_);                             \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
	do {                                                                                       \
		const char *check_a_ = (a), *check_b_ = (b);                                       \
		check_run++;                                                                       \
		if (strcmp(check_a_, check_b_) != 0) {                                             \
			check_failed++;                                                            \
			fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__,        \
			        __LINE__, #a, check_a_, check_b_);                                 \
		}                                                                                  \
	} while (0)

#define CHECK_DONE()                                                                               \
	do {                                                                                       \
		printf("%d checks, %d failed\n", check_run, check_failed);                         \
		return check_failed ? 1 : 0;                                                       \
	} while (0)

#endif
