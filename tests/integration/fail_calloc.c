/* fail_calloc.c -- an LD_PRELOAD fault injector for the CLI tests: the
 * first calloc(1, sizeof(struct sink_jsonl)) fails with ENOMEM, so that the
 * path where sink_jsonl_open returns NULL runs for real (issue 7, defect 5).
 *
 * The size mirrors src/sink/json.c's private struct (a struct sink, the
 * FILE *, a SINK_JSON_MAX line).  If that layout changes, nothing fails any
 * more and the test that uses this, which expects the failure, fails: it
 * cannot pass silently.  Every other call goes to the real calloc. */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "trades/sink.h"

#define FAIL_SIZE (sizeof(struct sink) + sizeof(FILE *) + SINK_JSON_MAX)

void *calloc(size_t nmemb, size_t size);

/* dlsym may itself calloc before the real one is known: those few bytes
 * come from here (never freed: free() of them is not expected to happen). */
static unsigned char early[4096];
static size_t early_used;
static int failed;

void *calloc(size_t nmemb, size_t size)
{
	static void *(*real)(size_t, size_t);
	static int resolving;
	size_t n = nmemb * size;

	if (!real) {
		if (resolving) {
			void *p = early + early_used;

			if (nmemb && n / nmemb != size) /* overflow */
				return NULL;
			n = (n + 15) & ~(size_t)15;
			if (early_used + n > sizeof(early))
				return NULL;
			early_used += n;
			return p; /* static storage: already zero */
		}
		resolving = 1;
		real = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
		resolving = 0;
		if (!real)
			return NULL;
	}
	if (!failed && nmemb == 1 && size == FAIL_SIZE) {
		failed = 1;
		errno = ENOMEM;
		return NULL;
	}
	return real(nmemb, size);
}
