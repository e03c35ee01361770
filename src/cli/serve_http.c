/* serve_http.c -- the HTTP endpoint's options and life around serve. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "serve_http.h"
#include "trades/addr.h"
#include "trades/log.h"
#if HAVE_HTTP
#include "trades/http.h"
#endif

int cli_http_env(struct cli_http *o)
{
	memset(o, 0, sizeof(*o));
	o->spec = cli_env("TRADES_HTTP", NULL);
	return 0;
}

int cli_http_opt(int c, const char *arg, struct cli_http *o)
{
	if (c == CLI_OPT_HTTP) {
		o->spec = arg;
		return 1;
	}
	if (c == CLI_OPT_HTTP_INSTRUMENTS)
		return cli_u64("serve", "--http-instruments", arg, 0, 65536, false,
		               &o->instruments) < 0
		               ? -1
		               : 1;
	return 0;
}

#if HAVE_HTTP
static int cli_http_health(const struct state *s, const char *dir, FILE *f)
{
	return cli_health_state(s, dir, 10, f) == CLI_OK ? 0 : -1;
}

int cli_http_start(struct cli_http *o, const char *state_dir)
{
	struct http_config hc = {.state_dir = state_dir,
	                         .instruments = (uint32_t)o->instruments,
	                         .stat_json = cli_stat_json,
	                         .health = cli_http_health};
	char err[512], addr[ADDR_STR_MAX];
	socklen_t len;

	if (!o->spec)
		return CLI_OK;
	if (addr_parse(o->spec, strlen(o->spec), true, &hc.addr, &len, err, sizeof(err)) < 0) {
		fprintf(stderr, "trades serve: --http %s\n", err);
		return CLI_USAGE;
	}
	o->h = http_start(&hc, err, sizeof(err));
	if (!o->h) {
		log_error("%s", err);
		return CLI_FAIL;
	}
	addr_str(http_addr(o->h), addr, sizeof(addr));
	printf("listening http %s\n", addr);
	fflush(stdout);
	return CLI_OK;
}

void cli_http_stop(struct cli_http *o)
{
	http_stop(o->h);
	o->h = NULL;
}
#else
int cli_http_start(struct cli_http *o, const char *state_dir)
{
	(void)state_dir;
	if (!o->spec)
		return CLI_OK;
	fprintf(stderr, "trades serve: --http: built without libmicrohttpd (install "
	                "libmicrohttpd-dev, build with -Dhttp=enabled)\n");
	return CLI_USAGE;
}

void cli_http_stop(struct cli_http *o)
{
	(void)o;
}
#endif
