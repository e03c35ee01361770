/* addr.h -- the one HOST:PORT grammar of every option and tool.
 *
 *   HOST:PORT      HOST is dotted IPv4, "localhost" (127.0.0.1), or "*" or
 *                  empty (any address, 0.0.0.0)
 *   [IPV6]:PORT    a bracketed IPv6 address ("[::]" is any)
 *
 * No name lookups: a service that resolves names at start-up depends on DNS
 * being up.  PORT is decimal digits only, 0..65535 (0: the kernel picks).
 */
#ifndef TRADES_ADDR_H
#define TRADES_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define ADDR_STR_MAX 64 /* "[ffff:...:ffff]:65535" with its NUL */

/* Parses exactly HOST:PORT (len bytes of s; no trailing options) into *ss.
 * port_zero_ok: whether port 0 is accepted.  0, or -1 with err saying what
 * is wrong and quoting the input. */
int addr_parse(const char *s, size_t len, bool port_zero_ok, struct sockaddr_storage *ss,
               socklen_t *sslen, char *err, size_t errlen);

/* "ip:port" or "[ip6]:port" of sa into buf (always NUL-terminated). */
void addr_str(const struct sockaddr *sa, char *buf, size_t len);

#endif
