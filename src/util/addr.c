/* addr.c -- HOST:PORT parsing and formatting (addr.h). */
#include "trades/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "trades/log.h"

#define ADDR_HOST_MAX 64 /* longest host text accepted, brackets included */

/* Digits only: strtoul alone would take " 80", "+80" and "-1". */
static const char *addr_port(const char *s, size_t len, bool zero_ok, uint16_t *port)
{
	uint32_t v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return "port is not a number 0..65535";
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return "port is not a number";
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v > 65535)
		return "port out of range (0..65535)";
	if (v == 0 && !zero_ok)
		return "port 0 is not allowed here";
	*port = (uint16_t)v;
	return NULL;
}

static const char *addr_v6(char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
		return "bad IPv6 address";
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	*len = sizeof(*in6);
	return NULL;
}

static const char *addr_v4(const char *host, uint16_t port, struct sockaddr_storage *ss,
                           socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;

	if (strchr(host, ':'))
		return "an IPv6 address needs brackets: [::1]:PORT";
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		in4->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (strcmp(host, "localhost") == 0)
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		return "bad IPv4 address (no name lookups: use dotted digits)";
	in4->sin_family = AF_INET;
	in4->sin_port = htons(port);
	*len = sizeof(*in4);
	return NULL;
}

int addr_parse(const char *s, size_t len, bool port_zero_ok, struct sockaddr_storage *ss,
               socklen_t *sslen, char *err, size_t errlen)
{
	char host[ADDR_HOST_MAX];
	const char *colon = NULL, *why;
	size_t i, hl;
	uint16_t port = 0;

	for (i = len; i > 0 && !colon; i--)
		if (s[i - 1] == ':')
			colon = s + i - 1;
	if (!colon)
		return errfmt(err, errlen, "'%.*s': expected HOST:PORT", (int)len, s);
	hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return errfmt(err, errlen, "'%.*s': host too long", (int)len, s);
	why = addr_port(colon + 1, len - hl - 1, port_zero_ok, &port);
	if (why)
		return errfmt(err, errlen, "'%.*s': %s", (int)len, s, why);
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		why = addr_v6(host + 1, port, ss, sslen);
	} else if (host[0] == '[') {
		why = "expected [IPV6]:PORT";
	} else {
		why = addr_v4(host, port, ss, sslen);
	}
	if (why)
		return errfmt(err, errlen, "'%.*s': %s", (int)len, s, why);
	return 0;
}

void addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}
