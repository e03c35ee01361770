/* ws_frame.c -- upgrade response head and frames of the WebSocket source
 * (ws_frame.h), over any byte stream. */
#include "ws_frame.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "trades/log.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 section 1.3 */

_Static_assert(SOURCE_WS_HEADER_MAX > 4, "the head needs room for its blank line");

void ws_head_init(struct ws_head *h)
{
	h->have = h->head_len = 0;
	h->text[0] = '\0';
	h->nul = false;
}

uint8_t *ws_head_space(struct ws_head *h, size_t *room)
{
	if (h->head_len || h->have >= SOURCE_WS_HEADER_MAX - 1)
		return NULL;
	*room = SOURCE_WS_HEADER_MAX - 1 - h->have;
	return h->buf + h->have;
}

int ws_head_add(struct ws_head *h, size_t got)
{
	size_t from = h->have > 3 ? h->have - 3 : 0; /* a blank line may straddle two reads */
	const uint8_t *end;

	ENSURE(!h->head_len && got <= SOURCE_WS_HEADER_MAX - 1 - h->have);
	h->have += got;
	end = memmem(h->buf + from, h->have - from, "\r\n\r\n", 4);
	if (!end)
		return h->have >= SOURCE_WS_HEADER_MAX - 1 ? -1 : 0;
	h->head_len = (size_t)(end - h->buf) + 4;
	memcpy(h->text, h->buf, h->head_len);
	h->text[h->head_len] = '\0';
	h->nul = memchr(h->text, '\0', h->head_len) != NULL;
	return 1;
}

void ws_accept_for(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	char cat[WS_KEY_LEN + sizeof(WS_GUID)];
	int n = snprintf(cat, sizeof(cat), "%.*s%s", WS_KEY_LEN, key, WS_GUID);

	SHA1((const unsigned char *)cat, (size_t)n, md);
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

const char *ws_header(const char *head, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p && p[2] != '\r') { /* bounded by the head's lines */
		const char *line = p + 2, *end = strstr(line, "\r\n");

		if (!end)
			return NULL;
		if ((size_t)(end - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
			line += nl + 1;
			while (*line == ' ' || *line == '\t')
				line++;
			*vlen = (size_t)(end - line);
			while (*vlen && (line[*vlen - 1] == ' ' || line[*vlen - 1] == '\t'))
				(*vlen)--;
			return line;
		}
		p = end;
	}
	return NULL;
}

int ws_upgrade_check(const struct ws_head *h, const char *key, char *why, size_t whylen)
{
	char want[WS_ACCEPT_LEN + 1];
	const char *acc;
	size_t alen = 0;

	ENSURE(h->head_len > 0);
	ws_accept_for(key, want);
	acc = h->nul ? NULL : ws_header(h->text, "Sec-WebSocket-Accept", &alen);
	if (strncmp(h->text, "HTTP/1.1 101", 12) == 0 && acc && alen == WS_ACCEPT_LEN &&
	    memcmp(acc, want, alen) == 0)
		return 0;
	log_escape(h->text, strcspn(h->text, "\r"), 80, why, whylen);
	return -1;
}

/* ---- frames: libwslay callbacks over ops ---- */

static ssize_t wf_recv_cb(wslay_event_context_ptr wc, uint8_t *buf, size_t len, int flags,
                          void *user)
{
	struct ws_frame *f = user;
	ssize_t n;

	(void)flags;
	if (f->pre_off < f->pre_len) {
		size_t k = f->pre_len - f->pre_off < len ? f->pre_len - f->pre_off : len;

		memcpy(buf, f->pre + f->pre_off, k);
		f->pre_off += k;
		return (ssize_t)k;
	}
	n = f->ops.read(f->ops.ctx, buf, len);
	if (n > 0) {
		ENSURE((size_t)n <= len);
		return n;
	}
	wslay_event_set_error(wc, n == 0 ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static ssize_t wf_send_cb(wslay_event_context_ptr wc, const uint8_t *data, size_t len, int flags,
                          void *user)
{
	struct ws_frame *f = user;
	ssize_t n;

	(void)flags;
	n = f->ops.write(f->ops.ctx, data, len);
	if (n > 0) {
		ENSURE((size_t)n <= len);
		return n;
	}
	wslay_event_set_error(wc, n == 0 ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static int wf_genmask_cb(wslay_event_context_ptr wc, uint8_t *buf, size_t len, void *user)
{
	(void)wc, (void)user;
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static void wf_msg_cb(wslay_event_context_ptr wc, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
	struct ws_frame *f = user;

	(void)wc;
	ENSURE(arg->msg_length <= SOURCE_WS_MSG_MAX);
	f->ops.message(f->ops.ctx, arg->opcode, arg->msg, arg->msg_length, arg->status_code);
}

int ws_frame_open(struct ws_frame *f, const struct ws_frame_ops *ops, const uint8_t *pre,
                  size_t pre_len)
{
	static const struct wslay_event_callbacks cbs = {
	        .recv_callback = wf_recv_cb,
	        .send_callback = wf_send_cb,
	        .genmask_callback = wf_genmask_cb,
	        .on_msg_recv_callback = wf_msg_cb,
	};

	*f = (struct ws_frame){.ops = *ops, .pre = pre, .pre_len = pre_len};
	if (wslay_event_context_client_init(&f->wc, &cbs, f) != 0) {
		f->wc = NULL;
		return -1;
	}
	wslay_event_config_set_max_recv_msg_length(f->wc, SOURCE_WS_MSG_MAX);
	return 0;
}

int ws_frame_recv(struct ws_frame *f)
{
	return wslay_event_recv(f->wc) == 0 ? 0 : -1;
}

int ws_frame_send(struct ws_frame *f)
{
	return wslay_event_send(f->wc) == 0 ? 0 : -1;
}

bool ws_frame_want_read(const struct ws_frame *f)
{
	return wslay_event_want_read(f->wc) != 0;
}

bool ws_frame_want_write(const struct ws_frame *f)
{
	return wslay_event_want_write(f->wc) != 0;
}

bool ws_frame_buffered(const struct ws_frame *f)
{
	return f->pre_off < f->pre_len;
}

int ws_frame_queue_text(struct ws_frame *f, const char *text, size_t len)
{
	struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};

	return f->wc && wslay_event_queue_msg(f->wc, &m) == 0 ? 0 : -1;
}

int ws_frame_queue_close(struct ws_frame *f, uint16_t code)
{
	return f->wc && wslay_event_queue_close(f->wc, code, NULL, 0) == 0 ? 0 : -1;
}

void ws_frame_close(struct ws_frame *f)
{
	if (f->wc)
		wslay_event_context_free(f->wc);
	f->wc = NULL;
	f->pre = NULL;
	f->pre_len = f->pre_off = 0;
}
