/* source_ws.c -- WebSocket-over-TLS client source (source_ws.h).
 *
 * Steps of a session: getaddrinfo -> non-blocking connect (each address in
 * turn) -> SSL_connect (SNI, verify peer, verify host name or IP) -> HTTP
 * upgrade -> frames (ws_frame.c: libwslay over SSL_read/SSL_write) -> poll
 * loop.
 * Every wait polls for at most SOURCE_WAIT_MS, so *stop is seen promptly.
 */
#include "trades/source_ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "trades/log.h"
#include "trades/timefmt.h"
#include "ws_frame.h"

#define WS_STOP_FLUSH_TURNS 20 /* loop turns a close frame gets to leave at stop */

struct source_ws {
	struct source_ws_config cfg;
	char host[SOURCE_WS_HOST_MAX + 1];
	char port[8];
	char path[SOURCE_WS_PATH_MAX + 1];
	char peer[SOURCE_WS_HOST_MAX + 16];
	bool host_is_ip;
	SSL_CTX *tls;
	SSL *ssl;
	int fd;
	struct ws_frame fr;  /* the session's framing (fr.wc NULL between sessions) */
	struct ws_head head; /* the upgrade response; bytes past it feed fr first */
	bool eof, drop, delivered;
	uint32_t gen;
	int64_t last_rx_mono;
	struct source_ws_stats st;
	struct ratelimit rl;
};

static void ws_warn(struct source_ws *ws, const char *what, const char *why)
{
	uint64_t suppressed = 0;

	if (ratelimit_allow(&ws->rl, timefmt_mono_ns(), &suppressed))
		log_warn("websocket %s: %s: %s%s", ws->peer, what, why,
		         suppressed ? " (more suppressed)" : "");
}

/* The last OpenSSL error (or the verify result) as text. */
static const char *ws_tls_error(struct source_ws *ws, char *buf, size_t len)
{
	long v = ws->ssl ? SSL_get_verify_result(ws->ssl) : X509_V_OK;
	unsigned long e = ERR_get_error();

	if (v != X509_V_OK)
		snprintf(buf, len, "certificate verify failed: %s",
		         X509_verify_cert_error_string(v));
	else if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "%s", errno ? strerror(errno) : "connection closed");
	ERR_clear_error();
	return buf;
}

/* wss://HOST[:PORT][/PATH]; HOST may be [IPv6]. */
static int ws_parse_url(struct source_ws *ws, const char *url, char *err, size_t errlen)
{
	const char *h, *e, *p;
	size_t hl;

	if (strncmp(url, "wss://", 6) != 0)
		return errfmt(err, errlen, "url '%s': must start with wss://", url);
	h = url + 6;
	p = strchr(h, '/');
	p = p ? p : h + strlen(h);
	if (*h == '[') {
		e = memchr(h, ']', (size_t)(p - h));
		if (!e)
			return errfmt(err, errlen, "url '%s': unclosed [", url);
		hl = (size_t)(e - h - 1);
		h++;
		e++;
	} else {
		e = memchr(h, ':', (size_t)(p - h));
		e = e ? e : p;
		hl = (size_t)(e - h);
	}
	if (hl == 0 || hl > SOURCE_WS_HOST_MAX || strlen(p) > SOURCE_WS_PATH_MAX)
		return errfmt(err, errlen, "url '%s': bad host or path length", url);
	memcpy(ws->host, h, hl);
	ws->host[hl] = '\0';
	if (*e == ':') {
		size_t pl = (size_t)(p - e - 1);

		if (pl == 0 || pl >= sizeof(ws->port) || strspn(e + 1, "0123456789") < pl)
			return errfmt(err, errlen, "url '%s': bad port", url);
		memcpy(ws->port, e + 1, pl);
		ws->port[pl] = '\0';
	} else {
		snprintf(ws->port, sizeof(ws->port), "443");
	}
	snprintf(ws->path, sizeof(ws->path), "%s", *p ? p : "/");
	struct in6_addr a6;

	ws->host_is_ip =
	        inet_pton(AF_INET, ws->host, &a6) == 1 || inet_pton(AF_INET6, ws->host, &a6) == 1;
	snprintf(ws->peer, sizeof(ws->peer), "%s:%s", ws->host, ws->port);
	return 0;
}

int source_ws_open(struct source_ws **out, const struct source_ws_config *cfg, char *err,
                   size_t errlen)
{
	struct source_ws *ws = calloc(1, sizeof(*ws));

	*out = NULL;
	if (!ws)
		return errfmt(err, errlen, "websocket: calloc: %s", strerror(errno));
	ws->cfg = *cfg;
	ws->fd = -1;
	ws->rl = (struct ratelimit)RATELIMIT_INIT(60, 10);
	if (!ws->cfg.dead_ms)
		ws->cfg.dead_ms = SOURCE_WS_DEAD_MS;
	if (!ws->cfg.backoff_min_ms)
		ws->cfg.backoff_min_ms = SOURCE_WS_BACKOFF_MIN_MS;
	if (!ws->cfg.backoff_max_ms)
		ws->cfg.backoff_max_ms = SOURCE_WS_BACKOFF_MAX_MS;
	if (ws->cfg.backoff_max_ms < ws->cfg.backoff_min_ms)
		ws->cfg.backoff_max_ms = ws->cfg.backoff_min_ms;
	if (ws_parse_url(ws, cfg->url, err, errlen) < 0)
		goto fail;
	ws->tls = SSL_CTX_new(TLS_client_method());
	if (!ws->tls) {
		errfmt(err, errlen, "websocket: SSL_CTX_new failed");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(ws->tls, TLS1_2_VERSION);
	SSL_CTX_set_verify(ws->tls, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ws->tls,
	                 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (cfg->ca_file ? SSL_CTX_load_verify_locations(ws->tls, cfg->ca_file, NULL) != 1
	                 : SSL_CTX_set_default_verify_paths(ws->tls) != 1) {
		char e[256];

		ERR_error_string_n(ERR_get_error(), e, sizeof(e));
		errfmt(err, errlen, "websocket: CA %s: %s",
		       cfg->ca_file ? cfg->ca_file : "(system)", e);
		goto fail;
	}
	*out = ws;
	return 0;
fail:
	source_ws_close(ws);
	return -1;
}

/* Polls fd for events until deadline (mono ns) or stop.  1 ready, 0 not
 * (timeout or stop), -1 error. */
static int ws_wait(struct source_ws *ws, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = ws->fd, .events = events};

	while (!*ws->cfg.stop && timefmt_mono_ns() < deadline) { /* bounded by deadline */
		int n = poll(&pfd, 1, SOURCE_WAIT_MS);

		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

/* A non-blocking connect to one address. 0 connected, -1 failed. */
static int ws_connect_one(struct source_ws *ws, const struct addrinfo *ai, int64_t deadline)
{
	int one = 1, soerr = 0;
	socklen_t sl = sizeof(soerr);

	ws->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ws->fd < 0)
		return -1;
	setsockopt(ws->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(ws->fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno == EINPROGRESS && ws_wait(ws, POLLOUT, deadline) == 1 &&
	    getsockopt(ws->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
		return 0;
	errno = soerr ? soerr : errno ? errno : ETIMEDOUT;
	close(ws->fd);
	ws->fd = -1;
	return -1;
}

static int ws_connect_tcp(struct source_ws *ws, int64_t deadline)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	int rc = getaddrinfo(ws->host, ws->port, &hints, &res);

	if (rc != 0) {
		ws_warn(ws, "getaddrinfo", gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) /* bounded by the resolver's list */
		if (ws_connect_one(ws, ai, deadline) == 0)
			break;
	freeaddrinfo(res);
	if (ws->fd < 0)
		ws_warn(ws, "connect", strerror(errno));
	return ws->fd < 0 ? -1 : 0;
}

/* Waits for what an SSL call asked (rc its return).  1 retry, -1 fail. */
static int ws_tls_retry(struct source_ws *ws, int rc, int64_t deadline)
{
	int e = SSL_get_error(ws->ssl, rc);

	if (e == SSL_ERROR_WANT_READ)
		return ws_wait(ws, POLLIN, deadline) == 1 ? 1 : -1;
	if (e == SSL_ERROR_WANT_WRITE)
		return ws_wait(ws, POLLOUT, deadline) == 1 ? 1 : -1;
	return -1;
}

static int ws_tls_handshake(struct source_ws *ws, int64_t deadline)
{
	char why[256];
	int rc;

	ws->ssl = SSL_new(ws->tls);
	if (!ws->ssl || SSL_set_fd(ws->ssl, ws->fd) != 1)
		return -1;
	if (ws->host_is_ip) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ws->ssl), ws->host);
	} else {
		SSL_set_tlsext_host_name(ws->ssl, ws->host); /* SNI: names only (RFC 6066) */
		SSL_set1_host(ws->ssl, ws->host);
	}
	errno = 0;
	while ((rc = SSL_connect(ws->ssl)) != 1) /* bounded by deadline */
		if (ws_tls_retry(ws, rc, deadline) < 0) {
			ws_warn(ws, "TLS handshake", ws_tls_error(ws, why, sizeof(why)));
			return -1;
		}
	return 0;
}

/* Writes all of buf during the handshake phase.  0 or -1. */
static int ws_write_all(struct source_ws *ws, const char *buf, size_t len, int64_t deadline)
{
	size_t off = 0;

	while (off < len) { /* each pass writes or waits until deadline */
		int rc = SSL_write(ws->ssl, buf + off, (int)(len - off));

		if (rc > 0)
			off += (size_t)rc;
		else if (ws_tls_retry(ws, rc, deadline) < 0)
			return -1;
	}
	return 0;
}

/* Reads the response head into ws->head; bytes after it stay there.
 * 0, or -1 (no complete head within SOURCE_WS_HEADER_MAX or the deadline). */
static int ws_read_head(struct source_ws *ws, int64_t deadline)
{
	ws_head_init(&ws->head);
	for (;;) { /* bounded: SOURCE_WS_HEADER_MAX bytes or the deadline */
		size_t room = 0;
		uint8_t *at = ws_head_space(&ws->head, &room);
		int rc, done;

		if (!at)
			return -1;
		rc = SSL_read(ws->ssl, at, room > INT32_MAX ? INT32_MAX : (int)room);
		if (rc <= 0) {
			if (ws_tls_retry(ws, rc, deadline) < 0)
				return -1;
			continue;
		}
		done = ws_head_add(&ws->head, (size_t)rc);
		if (done != 0)
			return done > 0 ? 0 : -1;
	}
}

static int ws_upgrade(struct source_ws *ws, int64_t deadline)
{
	unsigned char nonce[16];
	char key[WS_KEY_LEN + 1], why[128];
	char req[SOURCE_WS_PATH_MAX + SOURCE_WS_HOST_MAX + 256];
	int n;

	_Static_assert(4 * ((sizeof(nonce) + 2) / 3) == WS_KEY_LEN, "base64 of the nonce");
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
	n = snprintf(req, sizeof(req),
	             "GET %s HTTP/1.1\r\nHost: %s%s%s\r\nUpgrade: websocket\r\nConnection: "
	             "Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
	             "User-Agent: trades\r\n\r\n",
	             ws->path, ws->host, strcmp(ws->port, "443") ? ":" : "",
	             strcmp(ws->port, "443") ? ws->port : "", key);
	if (ws_write_all(ws, req, (size_t)n, deadline) < 0 || ws_read_head(ws, deadline) < 0) {
		ws_warn(ws, "upgrade", "no complete HTTP response");
		return -1;
	}
	if (ws_upgrade_check(&ws->head, key, why, sizeof(why)) < 0) {
		ws_warn(ws, "upgrade refused", why);
		return -1;
	}
	return 0;
}

/* ---- the stream under the frames (ws_frame_ops) ---- */

static ssize_t ws_read_op(void *ctx, uint8_t *buf, size_t len)
{
	struct source_ws *ws = ctx;
	int rc = SSL_read(ws->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len), e;

	if (rc > 0) {
		ws->last_rx_mono = timefmt_mono_ns();
		return rc;
	}
	e = SSL_get_error(ws->ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	ws->eof = true;
	if (e != SSL_ERROR_ZERO_RETURN && !(e == SSL_ERROR_SYSCALL && errno == 0)) {
		char why[256];

		ws->st.errors++;
		ws_warn(ws, "read", ws_tls_error(ws, why, sizeof(why)));
	} else {
		ws->st.closes++;
	}
	ERR_clear_error();
	return -1;
}

static ssize_t ws_write_op(void *ctx, const uint8_t *data, size_t len)
{
	struct source_ws *ws = ctx;
	int rc = SSL_write(ws->ssl, data, len > INT32_MAX ? INT32_MAX : (int)len), e;

	if (rc > 0)
		return rc;
	e = SSL_get_error(ws->ssl, rc);
	ERR_clear_error();
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

static void ws_message_op(void *ctx, uint8_t opcode, const uint8_t *msg, size_t len,
                          uint16_t status)
{
	struct source_ws *ws = ctx;
	struct source_chan ch = {.conn = 0, .gen = ws->gen};

	if (opcode == WSLAY_TEXT_FRAME) {
		ws->st.messages++;
		ws->st.bytes += len;
		ws->delivered = true;
		if (ws->cfg.h.datagram)
			ws->cfg.h.datagram(ws->cfg.h.ctx, &ch, msg, len, timefmt_now_ns(), false);
	} else if (opcode == WSLAY_BINARY_FRAME) {
		ws->st.binary++;
	} else if (opcode == WSLAY_CONNECTION_CLOSE) {
		ws->st.closes++;
		log_info("websocket %s: server closed the session (status %u)", ws->peer,
		         (unsigned)status);
	}
}

/* ---- sessions ---- */

static void ws_teardown(struct source_ws *ws)
{
	ws_frame_close(&ws->fr);
	if (ws->ssl) {
		SSL_shutdown(ws->ssl); /* one try: no waiting for the peer's notify */
		SSL_free(ws->ssl);
	}
	ws->ssl = NULL;
	if (ws->fd >= 0)
		close(ws->fd);
	ws->fd = -1;
	ERR_clear_error();
}

/* Connect, TLS, upgrade, wslay.  0 (a session is open), or -1. */
static int ws_connect(struct source_ws *ws)
{
	const struct ws_frame_ops ops = {
	        .read = ws_read_op, .write = ws_write_op, .message = ws_message_op, .ctx = ws};
	int64_t deadline = timefmt_mono_ns() + (int64_t)SOURCE_WS_CONNECT_MS * 1000000;

	ws->st.connects++;
	if (ws_connect_tcp(ws, deadline) < 0 || ws_tls_handshake(ws, deadline) < 0 ||
	    ws_upgrade(ws, deadline) < 0 ||
	    ws_frame_open(&ws->fr, &ops, ws->head.buf + ws->head.head_len,
	                  ws->head.have - ws->head.head_len) < 0) {
		ws->st.failures++;
		ws_teardown(ws);
		return -1;
	}
	ws->eof = ws->drop = ws->delivered = false;
	ws->last_rx_mono = timefmt_mono_ns();
	ws->st.sessions++;
	ws->gen++;
	log_info("websocket %s: session %u open (TLS %s)", ws->peer, ws->gen,
	         SSL_get_version(ws->ssl));
	return 0;
}

static void ws_batch_end(struct source_ws *ws, unsigned events)
{
	struct source_batch b = {.events = events};

	if (ws->cfg.h.batch_end)
		ws->cfg.h.batch_end(ws->cfg.h.ctx, &b);
}

/* One loop turn: poll, read, write.  0 go on, -1 the session ended. */
static int ws_turn(struct source_ws *ws)
{
	struct pollfd pfd = {.fd = ws->fd, .events = POLLIN};
	uint64_t before = ws->st.messages;
	int n, timeout = SOURCE_WAIT_MS;

	if (ws_frame_want_write(&ws->fr))
		pfd.events |= POLLOUT;
	if (ws_frame_buffered(&ws->fr) || SSL_pending(ws->ssl) > 0)
		timeout = 0;
	n = poll(&pfd, 1, timeout);
	if (n < 0 && errno != EINTR) {
		ws->st.errors++;
		ws_warn(ws, "poll", strerror(errno));
		return -1;
	}
	if ((n > 0 || timeout == 0) && ws_frame_recv(&ws->fr) != 0)
		ws->eof = true;
	if (!ws->eof && ws_frame_want_write(&ws->fr) && ws_frame_send(&ws->fr) != 0)
		ws->eof = true;
	ws_batch_end(ws, (unsigned)(ws->st.messages - before));
	if (ws->eof || ws->drop)
		return -1;
	if (!ws_frame_want_read(&ws->fr) && !ws_frame_want_write(&ws->fr))
		return -1; /* close handshake done */
	if (timefmt_mono_ns() - ws->last_rx_mono > (int64_t)ws->cfg.dead_ms * 1000000) {
		ws->st.dead++;
		ws_warn(ws, "session", "silent too long, reconnecting");
		return -1;
	}
	return 0;
}

/* At stop: a close frame (1000), a few turns to send it. */
static void ws_close_session(struct source_ws *ws)
{
	unsigned i;

	if (ws_frame_queue_close(&ws->fr, WSLAY_CODE_NORMAL_CLOSURE) != 0)
		return;
	for (i = 0; i < WS_STOP_FLUSH_TURNS && ws_frame_want_write(&ws->fr); i++) {
		if (ws_frame_send(&ws->fr) != 0)
			break;
		if (ws_frame_want_write(&ws->fr))
			poll(&(struct pollfd){.fd = ws->fd, .events = POLLOUT}, 1, SOURCE_WAIT_MS);
	}
}

static void ws_session(struct source_ws *ws)
{
	struct source_chan ch = {.conn = 0, .gen = ws->gen};

	if (ws->cfg.h.opened && ws->cfg.h.opened(ws->cfg.h.ctx, &ch) < 0)
		ws->drop = true;
	while (!*ws->cfg.stop && !ws->drop && ws_turn(ws) == 0) /* the main loop: until stop */
		;
	if (*ws->cfg.stop && !ws->eof)
		ws_close_session(ws);
	if (ws->cfg.h.closed)
		ws->cfg.h.closed(ws->cfg.h.ctx, &ch);
	ws_teardown(ws);
	log_info("websocket %s: session %u closed", ws->peer, ws->gen);
}

/* Jittered exponential backoff: uniform in [d/2, d]; idle batches meanwhile. */
static void ws_backoff(struct source_ws *ws, unsigned attempt)
{
	uint64_t d = ws->cfg.backoff_min_ms, r = 0;
	int64_t until;

	while (attempt-- && d < ws->cfg.backoff_max_ms) /* at most 32 doublings */
		d *= 2;
	if (d > ws->cfg.backoff_max_ms)
		d = ws->cfg.backoff_max_ms;
	RAND_bytes((unsigned char *)&r, sizeof(r));
	d = d / 2 + r % (d / 2 + 1);
	until = timefmt_mono_ns() + (int64_t)d * 1000000;
	while (!*ws->cfg.stop && timefmt_mono_ns() < until) { /* bounded by until */
		int64_t left_ms = (until - timefmt_mono_ns()) / 1000000 + 1;

		poll(NULL, 0, left_ms < SOURCE_WAIT_MS ? (int)left_ms : SOURCE_WAIT_MS);
		ws_batch_end(ws, 0);
	}
}

int source_ws_run(struct source_ws *ws)
{
	unsigned attempt = 0;
	uint64_t n = 0;

	while (!*ws->cfg.stop && (!ws->cfg.max_sessions || n < ws->cfg.max_sessions)) {
		/* the main loop: one pass per connection attempt, until stop */
		n++;
		if (ws_connect(ws) == 0) {
			ws_session(ws);
			if (ws->delivered)
				attempt = 0;
		}
		if (*ws->cfg.stop || (ws->cfg.max_sessions && n >= ws->cfg.max_sessions))
			break;
		ws_backoff(ws, attempt);
		if (attempt < 32)
			attempt++;
	}
	return ws->st.sessions == 0 && !*ws->cfg.stop ? -1 : 0;
}

int source_ws_send(struct source_ws *ws, const char *text, size_t len)
{
	ENSURE(len <= SOURCE_WS_SEND_MAX);
	if (ws_frame_queue_text(&ws->fr, text, len) != 0) {
		ws->st.send_dropped++;
		return -1;
	}
	return 0;
}

void source_ws_drop(struct source_ws *ws)
{
	ws->drop = true;
}

const struct source_ws_stats *source_ws_stats(const struct source_ws *ws)
{
	return &ws->st;
}

const char *source_ws_peer(const struct source_ws *ws)
{
	return ws->peer;
}

void source_ws_close(struct source_ws *ws)
{
	if (!ws)
		return;
	ws_teardown(ws);
	if (ws->tls)
		SSL_CTX_free(ws->tls);
	free(ws);
}
