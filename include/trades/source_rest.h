/* source_rest.h -- HTTPS GETs for REST backfill, with libcurl.
 *
 * One reused curl easy handle (keep-alive), TLS peer and host verification
 * on (the system's CA store or ca_file), bounded bodies, a minimum interval
 * between requests (the exchange's rate limit), and retries with jittered
 * exponential backoff for transport errors, HTTP 429 and 5xx.  Every wait
 * is cut in SOURCE_WAIT_MS slices that check *stop.
 */
#ifndef TRADES_SOURCE_REST_H
#define TRADES_SOURCE_REST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define SOURCE_REST_BODY_MAX   (32u << 20) /* larger responses fail */
#define SOURCE_REST_URL_MAX    1024
#define SOURCE_REST_TIMEOUT_S  30
#define SOURCE_REST_RETRIES    6    /* attempts after the first */
#define SOURCE_REST_BACKOFF_MS 1000 /* first retry wait (doubles, jittered) */

struct source_rest_config {
	const char *base_url;        /* "https://api.kraken.com" (no trailing '/') */
	const char *ca_file;         /* PEM CA bundle; NULL = system store */
	uint32_t interval_ms;        /* least time between two requests */
	uint32_t backoff_ms;         /* 0 = SOURCE_REST_BACKOFF_MS */
	volatile sig_atomic_t *stop; /* may be NULL */
};

struct source_rest_stats {
	uint64_t requests, retries, failures, bytes;
};

struct source_rest;

/* 0, or -1 with err (curl init, bad URL). */
int source_rest_open(struct source_rest **out, const struct source_rest_config *cfg, char *err,
                     size_t errlen);
/* GET base_url + path (path starts with '/', query included).  Returns 0
 * with the 200 response's body in *body (NUL-terminated, valid until the
 * next call), or -1 with err after the retries (or at stop). */
int source_rest_get(struct source_rest *r, const char *path, const char **body, size_t *len,
                    char *err, size_t errlen);
/* Waits ms (cut at stop): the caller's backoff for an API-level rate-limit
 * answer.  attempt k waits uniform in [d/2, d], d = backoff_ms * 2^k. */
void source_rest_backoff(struct source_rest *r, unsigned attempt);
const struct source_rest_stats *source_rest_stats(const struct source_rest *r);
void source_rest_close(struct source_rest *r);

#endif
