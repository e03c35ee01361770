/* source_rest.c -- HTTPS GETs with libcurl (source_rest.h). */
#include "trades/source_rest.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rest_body.h"
#include "trades/log.h"
#include "trades/source.h"
#include "trades/timefmt.h"

struct source_rest {
	struct source_rest_config cfg;
	CURL *curl;
	struct rest_body body; /* the response being gathered */
	int64_t last_mono;
	uint64_t rng;
	struct source_rest_stats st;
};

static size_t rest_write_cb(char *data, size_t size, size_t n, void *user)
{
	struct source_rest *r = user;

	return rest_body_add(&r->body, data, size, n); /* 0 past the limit: CURLE_WRITE_ERROR */
}

int source_rest_open(struct source_rest **out, const struct source_rest_config *cfg, char *err,
                     size_t errlen)
{
	struct source_rest *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r || rest_body_init(&r->body, SOURCE_REST_BODY_MAX) < 0) {
		free(r);
		return errfmt(err, errlen, "rest: malloc: %s", strerror(ENOMEM));
	}
	r->cfg = *cfg;
	if (!r->cfg.backoff_ms)
		r->cfg.backoff_ms = SOURCE_REST_BACKOFF_MS;
	r->rng = (uint64_t)timefmt_now_ns() | 1;
	if (strncmp(cfg->base_url, "https://", 8) != 0 ||
	    strlen(cfg->base_url) > SOURCE_REST_URL_MAX / 2) {
		source_rest_close(r);
		return errfmt(err, errlen, "rest url '%s': must be https://HOST[:PORT]",
		              cfg->base_url);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(r->curl = curl_easy_init())) {
		source_rest_close(r);
		return errfmt(err, errlen, "rest: curl_easy_init failed");
	}
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, rest_write_cb);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(r->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, (long)SOURCE_REST_TIMEOUT_S);
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->curl, CURLOPT_USERAGENT, "trades");
	curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "https");
	if (cfg->ca_file)
		curl_easy_setopt(r->curl, CURLOPT_CAINFO, cfg->ca_file);
	*out = r;
	return 0;
}

/* Sleeps ms in SOURCE_WAIT_MS slices, cut short by stop. */
static void rest_sleep(struct source_rest *r, int64_t ms)
{
	int64_t until = timefmt_mono_ns() + ms * 1000000;

	while ((!r->cfg.stop || !*r->cfg.stop) && timefmt_mono_ns() < until) { /* bounded */
		int64_t left = (until - timefmt_mono_ns()) / 1000000 + 1;

		poll(NULL, 0, left < SOURCE_WAIT_MS ? (int)left : SOURCE_WAIT_MS);
	}
}

void source_rest_backoff(struct source_rest *r, unsigned attempt)
{
	uint64_t d = r->cfg.backoff_ms;

	while (attempt-- && d < 60000) /* capped at a minute */
		d *= 2;
	r->rng ^= r->rng << 13, r->rng ^= r->rng >> 7, r->rng ^= r->rng << 17; /* xorshift64 */
	rest_sleep(r, (int64_t)(d / 2 + r->rng % (d / 2 + 1)));
}

/* One GET: 0 (200), 1 retryable (transport, 429, 5xx), -1 final. */
static int rest_once(struct source_rest *r, const char *url, char *err, size_t errlen)
{
	long status = 0;
	CURLcode rc;
	int64_t wait = (int64_t)r->cfg.interval_ms - (timefmt_mono_ns() - r->last_mono) / 1000000;

	if (r->last_mono && wait > 0)
		rest_sleep(r, wait);
	rest_body_reset(&r->body);
	curl_easy_setopt(r->curl, CURLOPT_URL, url);
	rc = curl_easy_perform(r->curl);
	r->last_mono = timefmt_mono_ns();
	r->st.requests++;
	if (rc != CURLE_OK) {
		errfmt(err, errlen, "GET %s: %s", url,
		       r->body.overflow ? "body larger than the limit" : curl_easy_strerror(rc));
		return r->body.overflow || rc == CURLE_PEER_FAILED_VERIFICATION ? -1 : 1;
	}
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		errfmt(err, errlen, "GET %s: HTTP %ld", url, status);
		return status == 429 || status >= 500 ? 1 : -1;
	}
	r->st.bytes += r->body.len;
	return 0;
}

int source_rest_get(struct source_rest *r, const char *path, const char **body, size_t *len,
                    char *err, size_t errlen)
{
	char url[SOURCE_REST_URL_MAX];
	unsigned attempt;
	int rc = -1;

	if (snprintf(url, sizeof(url), "%s%s", r->cfg.base_url, path) >= (int)sizeof(url))
		return errfmt(err, errlen, "GET %s%s: URL too long", r->cfg.base_url, path);
	for (attempt = 0; attempt <= SOURCE_REST_RETRIES; attempt++) {
		if (r->cfg.stop && *r->cfg.stop)
			return errfmt(err, errlen, "GET %s: stopped", url);
		rc = rest_once(r, url, err, errlen);
		if (rc <= 0 || attempt == SOURCE_REST_RETRIES)
			break;
		r->st.retries++;
		log_warn("rest: %s; retry %u of %d", err, attempt + 1, SOURCE_REST_RETRIES);
		source_rest_backoff(r, attempt);
	}
	if (rc != 0) {
		r->st.failures++;
		return -1;
	}
	*body = rest_body_finish(&r->body, len);
	ENSURE(*body); /* no overflow: that transfer failed above */
	return 0;
}

const struct source_rest_stats *source_rest_stats(const struct source_rest *r)
{
	return &r->st;
}

void source_rest_close(struct source_rest *r)
{
	if (!r)
		return;
	if (r->curl)
		curl_easy_cleanup(r->curl);
	rest_body_free(&r->body);
	free(r);
}
