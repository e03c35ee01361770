/* source_dpdk.c -- the DPDK rx backend (source_dpdk.h).
 *
 * open:  EAL arguments -> rte_eal_init -> mempool -> port configure (one rx
 *        queue, no tx) -> rx queue -> start -> all-multicast
 * run:   the rx loop on the rx lcore: burst, parse each frame in place,
 *        deliver payloads, free the burst in bulk, batch_end; kernel sockets
 *        every SOURCE_DPDK_SOCK_POLL_US; port stats every SOURCE_DPDK_STATS_MS
 * close: rte_eth_dev_stop, close, rte_eal_cleanup, runtime dir removed
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_udp.h>
#include <rte_version.h>

#include "trades/log.h"
#include "trades/source_dpdk.h"
#include "trades/timefmt.h"

#define DPDK_PREFIX_MAX      64
#define DPDK_TXD             64  /* the unused tx queue some PMDs require */
#define DPDK_DIR_ENTRIES_MAX 256 /* files removed from the runtime dir, at most */

struct source_dpdk {
	struct source_dpdk_config cfg;
	struct source_handler h;
	char eal_buf[SOURCE_DPDK_EAL_LEN_MAX + 2 * DPDK_PREFIX_MAX];
	char *eal_argv[SOURCE_DPDK_EAL_ARGC_MAX + 4];
	int eal_argc;
	bool own_prefix; /* we chose --file-prefix: remove its runtime dir */
	char runtime_dir[PATH_MAX];
	bool eal_up, port_configured, port_started;
	struct rte_mempool *pool;
	char port_name[RTE_ETH_NAME_MAX_LEN];
	bool nic_csum; /* the NIC flags IPv4 checksums in ol_flags */
	unsigned rx_lcore;
	atomic_bool done; /* the rx loop returned */
	int loop_rc;
	uint64_t tsc_hz, idle_polls;
	uint64_t next_sock_tsc, next_stats_tsc, last_batch_tsc;
	struct ratelimit sock_rl;
	struct source_dpdk_stats st __rte_cache_aligned; /* written by the rx lcore only */
	uint8_t sockbuf[SOURCE_BUF_SIZE];
};

static const char *const dpdk_drop_names[SOURCE_DPDK_DROP_COUNT] = {
        [SOURCE_DPDK_DROP_ARP] = "arp",
        [SOURCE_DPDK_DROP_NOT_IPV4] = "not_ipv4",
        [SOURCE_DPDK_DROP_NOT_UDP] = "not_udp",
        [SOURCE_DPDK_DROP_FRAGMENT] = "fragment",
        [SOURCE_DPDK_DROP_RUNT] = "runt",
        [SOURCE_DPDK_DROP_BAD_CSUM] = "bad_csum",
        [SOURCE_DPDK_DROP_OTHER_PORT] = "other_port",
        [SOURCE_DPDK_DROP_OTHER_GROUP] = "other_group",
        [SOURCE_DPDK_DROP_SCATTERED] = "scattered",
};

const char *source_dpdk_drop_name(enum source_dpdk_drop k)
{
	return (unsigned)k < SOURCE_DPDK_DROP_COUNT ? dpdk_drop_names[k] : "?";
}

int source_dpdk_add_filter(struct source_dpdk_config *c, uint16_t udp_port, const char *group,
                           char *err, size_t errlen)
{
	struct in_addr ga = {0};

	if (c->nchans >= SOURCE_DPDK_CHANS_MAX)
		return errfmt(err, errlen, "more than %d DPDK filters and sockets",
		              SOURCE_DPDK_CHANS_MAX);
	if (udp_port == 0)
		return errfmt(err, errlen, "UDP port 0: give the feed's destination port");
	if (group && inet_pton(AF_INET, group, &ga) != 1)
		return errfmt(err, errlen, "group '%s': not a dotted IPv4 address", group);
	c->filters[c->nchans] =
	        (struct source_dpdk_filter){.udp_port = udp_port, .group = ga.s_addr};
	c->chan_is_socket[c->nchans] = false;
	c->sockets[c->nchans] = -1;
	return (int)c->nchans++;
}

int source_dpdk_add_socket(struct source_dpdk_config *c, int fd, char *err, size_t errlen)
{
	if (c->nchans >= SOURCE_DPDK_CHANS_MAX)
		return errfmt(err, errlen, "more than %d DPDK filters and sockets",
		              SOURCE_DPDK_CHANS_MAX);
	ENSURE(fd >= 0);
	c->chan_is_socket[c->nchans] = true;
	c->sockets[c->nchans] = fd;
	return (int)c->nchans++;
}

/* ---- EAL arguments ---- */

static bool dpdk_has_arg(const struct source_dpdk *d, const char *name)
{
	size_t n = strlen(name);
	int i;

	for (i = 1; i < d->eal_argc; i++)
		if (strncmp(d->eal_argv[i], name, n) == 0 &&
		    (d->eal_argv[i][n] == '\0' || d->eal_argv[i][n] == '='))
			return true;
	return false;
}

/* argv for rte_eal_init: "trades", the user's words, then our defaults. */
static int dpdk_eal_argv(struct source_dpdk *d, char *err, size_t errlen)
{
	const char *args = d->cfg.eal_args ? d->cfg.eal_args : "";
	size_t len = strlen(args);
	char *save = NULL, *tok, *tail;

	if (len > SOURCE_DPDK_EAL_LEN_MAX)
		return errfmt(err, errlen, "--dpdk: EAL arguments longer than %d bytes",
		              SOURCE_DPDK_EAL_LEN_MAX);
	memcpy(d->eal_buf, args, len + 1);
	tail = d->eal_buf + len + 1;
	d->eal_argv[d->eal_argc++] = (char *)"trades";
	for (tok = strtok_r(d->eal_buf, " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		if (d->eal_argc >= SOURCE_DPDK_EAL_ARGC_MAX)
			return errfmt(err, errlen, "--dpdk: more than %d EAL arguments",
			              SOURCE_DPDK_EAL_ARGC_MAX - 1);
		d->eal_argv[d->eal_argc++] = tok;
	}
	if (!dpdk_has_arg(d, "--file-prefix")) {
		/* Unique per process: two instances (or tests) never share
		 * /var/run/dpdk/<prefix>. */
		snprintf(tail, DPDK_PREFIX_MAX, "--file-prefix=trades-%ld", (long)getpid());
		d->eal_argv[d->eal_argc++] = tail;
		tail += DPDK_PREFIX_MAX;
		d->own_prefix = true;
	}
	if (!dpdk_has_arg(d, "--telemetry") && !dpdk_has_arg(d, "--no-telemetry")) {
		snprintf(tail, DPDK_PREFIX_MAX, "--no-telemetry");
		d->eal_argv[d->eal_argc++] = tail;
	}
	d->eal_argv[d->eal_argc] = NULL;
	return 0;
}

/* ---- port set-up ---- */

/* Port info, checksum offload, configure: one rx queue, and one tx queue
 * where the port has any (some PMDs, af_xdp, pair them; it is never used). */
static int dpdk_port_configure(struct source_dpdk *d, struct rte_eth_dev_info *info,
                               struct rte_eth_conf *conf, unsigned *ntx, char *err, size_t errlen)
{
	uint16_t port = d->cfg.port;
	int ret;

	if (!rte_eth_dev_is_valid_port(port))
		return errfmt(err, errlen,
		              "DPDK port %u: no such port (%u available: give --vdev or a "
		              "PCI device in --dpdk)",
		              port, rte_eth_dev_count_avail());
	ret = rte_eth_dev_info_get(port, info);
	if (ret < 0)
		return errfmt(err, errlen, "rte_eth_dev_info_get: port %u: %s", port,
		              strerror(-ret));
	rte_eth_dev_get_name_by_port(port, d->port_name);
	if (info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) {
		conf->rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
		d->nic_csum = true;
	}
	*ntx = info->max_tx_queues > 0;
	ret = rte_eth_dev_configure(port, 1, (uint16_t)*ntx, conf);
	if (ret < 0)
		return errfmt(err, errlen,
		              "rte_eth_dev_configure: port %u, 1 rx + %u tx queues: %s", port, *ntx,
		              strerror(-ret));
	d->port_configured = true;
	return 0;
}

/* Descriptors, the mempool (cfg.mbufs), the queues. */
static int dpdk_port_queues(struct source_dpdk *d, const struct rte_eth_dev_info *info,
                            const struct rte_eth_conf *conf, unsigned ntx, char *err, size_t errlen)
{
	uint16_t port = d->cfg.port, rxd = d->cfg.rxd, txd = ntx ? DPDK_TXD : 0;
	struct rte_eth_rxconf rxconf = info->default_rxconf;
	int ret, socket = rte_eth_dev_socket_id(port);

	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
	if (ret < 0)
		return errfmt(err, errlen, "rte_eth_dev_adjust_nb_rx_tx_desc: port %u, %u rxd: %s",
		              port, d->cfg.rxd, strerror(-ret));
	d->cfg.rxd = rxd;
	d->pool = rte_pktmbuf_pool_create("trades_rx", d->cfg.mbufs, SOURCE_DPDK_MBUF_CACHE, 0,
	                                  RTE_MBUF_DEFAULT_BUF_SIZE,
	                                  socket < 0 ? SOCKET_ID_ANY : socket);
	if (!d->pool)
		return errfmt(err, errlen,
		              "rte_pktmbuf_pool_create: %u mbufs of %u bytes: %s "
		              "(more memory: hugepages, or -m with --no-huge)",
		              d->cfg.mbufs, RTE_MBUF_DEFAULT_BUF_SIZE, rte_strerror(rte_errno));
	rxconf.offloads = conf->rxmode.offloads;
	ret = rte_eth_rx_queue_setup(port, 0, rxd, (unsigned)socket, &rxconf, d->pool);
	if (ret < 0)
		return errfmt(err, errlen, "rte_eth_rx_queue_setup: port %u, %u rxd: %s", port, rxd,
		              strerror(-ret));
	ret = ntx ? rte_eth_tx_queue_setup(port, 0, txd, (unsigned)socket, &info->default_txconf)
	          : 0;
	if (ret < 0)
		return errfmt(err, errlen, "rte_eth_tx_queue_setup: port %u, %u txd: %s", port, txd,
		              strerror(-ret));
	return 0;
}

static int dpdk_port_setup(struct source_dpdk *d, char *err, size_t errlen)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info info;
	unsigned ntx = 0;
	int ret;

	if (dpdk_port_configure(d, &info, &conf, &ntx, err, errlen) < 0 ||
	    dpdk_port_queues(d, &info, &conf, ntx, err, errlen) < 0)
		return -1;
	ret = rte_eth_dev_start(d->cfg.port);
	if (ret < 0)
		return errfmt(err, errlen, "rte_eth_dev_start: port %u: %s", d->cfg.port,
		              strerror(-ret));
	d->port_started = true;
	/* Multicast feeds: take every group; filters pick theirs.  Virtual
	 * devices may not support it, which is fine. */
	ret = rte_eth_allmulticast_enable(d->cfg.port);
	if (ret < 0 && ret != -ENOTSUP)
		log_warn("dpdk: port %u: rte_eth_allmulticast_enable: %s", d->cfg.port,
		         strerror(-ret));
	rte_eth_stats_reset(d->cfg.port);
	log_info("dpdk: port %u (%s, driver %s): 1 rx queue, %u descriptors, %u mbufs, IPv4 "
	         "checksum %s, rx lcore %u",
	         d->cfg.port, d->port_name, info.driver_name, d->cfg.rxd, d->cfg.mbufs,
	         d->nic_csum              ? "by the NIC"
	         : d->cfg.check_ipv4_csum ? "in software"
	                                  : "not checked",
	         d->rx_lcore);
	return 0;
}

static int dpdk_check_config(struct source_dpdk_config *c, char *err, size_t errlen)
{
	unsigned i, nf = 0;

	if (!c->rxd)
		c->rxd = SOURCE_DPDK_RXD_DEFAULT;
	if (c->rxd > SOURCE_DPDK_RXD_MAX)
		return errfmt(err, errlen, "--dpdk-rxd %u: at most %u", c->rxd,
		              SOURCE_DPDK_RXD_MAX);
	if (!c->mbufs) {
		c->mbufs = 2 * SOURCE_DPDK_MBUFS_NEEDED(c->rxd);
		if (c->mbufs < SOURCE_DPDK_MBUFS_MIN_POOL)
			c->mbufs = SOURCE_DPDK_MBUFS_MIN_POOL;
	}
	if (c->mbufs < SOURCE_DPDK_MBUFS_NEEDED(c->rxd) || c->mbufs > SOURCE_DPDK_MBUFS_MAX)
		return errfmt(err, errlen,
		              "--dpdk-mbufs %u: between %u (%u rxd + a burst + the "
		              "cache) and %u",
		              c->mbufs, SOURCE_DPDK_MBUFS_NEEDED(c->rxd), c->rxd,
		              SOURCE_DPDK_MBUFS_MAX);
	for (i = 0; i < c->nchans; i++)
		nf += !c->chan_is_socket[i];
	if (!nf)
		return errfmt(err, errlen, "DPDK: no --dpdk-mold or --dpdk-jsonl filter");
	ENSURE(c->stop != NULL);
	return 0;
}

struct source_dpdk *source_dpdk_open(const struct source_dpdk_config *cfg,
                                     const struct source_handler *h, char *err, size_t errlen)
{
	struct source_dpdk *d = calloc(1, sizeof(*d));
	int ret;

	if (!d) {
		errfmt(err, errlen, "DPDK source: %s", strerror(ENOMEM));
		return NULL;
	}
	d->cfg = *cfg;
	d->h = *h;
	d->sock_rl = (struct ratelimit)RATELIMIT_INIT(60, 5);
	if (dpdk_check_config(&d->cfg, err, errlen) < 0 || dpdk_eal_argv(d, err, errlen) < 0)
		goto fail;
	ret = rte_eal_init(d->eal_argc, d->eal_argv);
	if (ret < 0) {
		errfmt(err, errlen, "rte_eal_init '%s': %s", cfg->eal_args ? cfg->eal_args : "",
		       rte_strerror(rte_errno));
		goto fail;
	}
	d->eal_up = true;
	snprintf(d->runtime_dir, sizeof(d->runtime_dir), "%s", rte_eal_get_runtime_dir());
	d->rx_lcore = rte_get_next_lcore(-1, 1, 0);
	if (d->rx_lcore >= RTE_MAX_LCORE)
		d->rx_lcore = rte_get_main_lcore(); /* a single lcore: the loop runs here */
	d->tsc_hz = rte_get_tsc_hz();
	if (dpdk_port_setup(d, err, errlen) < 0)
		goto fail;
	return d;
fail:
	source_dpdk_close(d);
	return NULL;
}

/* ---- the rx loop ---- */

/* Whether the IPv4 header checksum is right: the NIC's verdict when it
 * gave one, else software (when asked), else assumed good. */
static inline bool dpdk_csum_ok(const struct source_dpdk *d, const struct rte_mbuf *m,
                                const struct rte_ipv4_hdr *ip, unsigned ihl)
{
	uint64_t f = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;

	if (f == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		return false;
	if (f == RTE_MBUF_F_RX_IP_CKSUM_GOOD || !d->cfg.check_ipv4_csum)
		return true;
	return rte_raw_cksum(ip, ihl) == 0xffff;
}

/* The channel of a UDP destination, or -1 - the drop kind (DPDK_DROP). */
static inline int dpdk_match(const struct source_dpdk *d, uint16_t dport, uint32_t dst)
{
	bool port_seen = false;
	unsigned i;

	for (i = 0; i < d->cfg.nchans; i++) {
		const struct source_dpdk_filter *f = &d->cfg.filters[i];

		if (d->cfg.chan_is_socket[i] || f->udp_port != dport)
			continue;
		if (!f->group || f->group == dst)
			return (int)i;
		port_seen = true;
	}
	return -1 - (port_seen ? SOURCE_DPDK_DROP_OTHER_GROUP : SOURCE_DPDK_DROP_OTHER_PORT);
}

#define DPDK_DROP(kind) (-1 - (int)(kind)) /* a parse result that is a drop */

/* IPv4 then UDP at l3 (len bytes to the end of the frame).  The channel of
 * the datagram (*udpp set), or DPDK_DROP(kind). */
static inline int dpdk_parse_ipv4(const struct source_dpdk *d, const struct rte_mbuf *m,
                                  const uint8_t *l3, uint32_t len, const struct rte_udp_hdr **udpp)
{
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)l3;
	const struct rte_udp_hdr *udp;
	unsigned ihl, iplen, udplen;

	if (unlikely(len < sizeof(*ip)))
		return DPDK_DROP(SOURCE_DPDK_DROP_RUNT);
	ihl = (ip->version_ihl & 0x0f) * 4u;
	iplen = rte_be_to_cpu_16(ip->total_length);
	if (unlikely((ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip) ||
	             iplen < ihl + sizeof(*udp) || len < iplen))
		return DPDK_DROP(SOURCE_DPDK_DROP_RUNT);
	if (unlikely(!dpdk_csum_ok(d, m, ip, ihl)))
		return DPDK_DROP(SOURCE_DPDK_DROP_BAD_CSUM);
	if (unlikely(ip->next_proto_id != IPPROTO_UDP))
		return DPDK_DROP(SOURCE_DPDK_DROP_NOT_UDP);
	if (unlikely(ip->fragment_offset &
	             rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)))
		return DPDK_DROP(SOURCE_DPDK_DROP_FRAGMENT);
	udp = (const struct rte_udp_hdr *)(l3 + ihl);
	udplen = rte_be_to_cpu_16(udp->dgram_len);
	if (unlikely(udplen < sizeof(*udp) || udplen > iplen - ihl))
		return DPDK_DROP(SOURCE_DPDK_DROP_RUNT);
	*udpp = udp;
	return dpdk_match(d, rte_be_to_cpu_16(udp->dst_port), ip->dst_addr);
}

/* Ethernet and up to SOURCE_DPDK_VLAN_MAX tags, then IPv4: the channel of
 * the datagram (*ipp, *udpp set), or DPDK_DROP(kind). */
static inline int dpdk_parse(const struct source_dpdk *d, const struct rte_mbuf *m,
                             const struct rte_ipv4_hdr **ipp, const struct rte_udp_hdr **udpp)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = m->data_len, off = sizeof(struct rte_ether_hdr);
	uint16_t et;
	unsigned v;

	if (unlikely(m->nb_segs != 1))
		return DPDK_DROP(SOURCE_DPDK_DROP_SCATTERED);
	if (unlikely(len < off))
		return DPDK_DROP(SOURCE_DPDK_DROP_RUNT);
	et = ((const struct rte_ether_hdr *)p)->ether_type;
	for (v = 0; v < SOURCE_DPDK_VLAN_MAX && (et == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN) ||
	                                         et == rte_cpu_to_be_16(RTE_ETHER_TYPE_QINQ));
	     v++) {
		if (unlikely(len < off + sizeof(struct rte_vlan_hdr)))
			return DPDK_DROP(SOURCE_DPDK_DROP_RUNT);
		et = ((const struct rte_vlan_hdr *)(p + off))->eth_proto;
		off += sizeof(struct rte_vlan_hdr);
	}
	if (unlikely(et != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)))
		return DPDK_DROP(et == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)
		                         ? SOURCE_DPDK_DROP_ARP
		                         : SOURCE_DPDK_DROP_NOT_IPV4);
	*ipp = (const struct rte_ipv4_hdr *)(p + off);
	return dpdk_parse_ipv4(d, m, p + off, len - off, udpp);
}

/* One frame: its payload to the handler, in place, or counted by why not. */
static inline void dpdk_frame(struct source_dpdk *d, const struct rte_mbuf *m, int64_t rx_ns)
{
	const struct rte_ipv4_hdr *ip = NULL;
	const struct rte_udp_hdr *udp = NULL;
	struct sockaddr_in from = {.sin_family = AF_INET};
	struct source_chan ch = {.conn = SOURCE_CONN_NONE};
	int chan = dpdk_parse(d, m, &ip, &udp);
	size_t len;

	if (unlikely(chan < 0)) {
		ENSURE(-chan - 1 < SOURCE_DPDK_DROP_COUNT);
		d->st.drops[-chan - 1]++;
		d->st.dropped++;
		return;
	}
	len = rte_be_to_cpu_16(udp->dgram_len) - sizeof(*udp);
	from.sin_addr.s_addr = ip->src_addr;
	from.sin_port = udp->src_port;
	ch.listen = (uint16_t)chan;
	ch.peer = (const struct sockaddr *)&from;
	ch.peerlen = sizeof(from);
	d->st.datagrams++;
	d->st.bytes += len;
	d->h.datagram(d->h.ctx, &ch, udp + 1, len, rx_ns, false);
}

/* One burst: parse, deliver, free in bulk.  Returns the frames handled. */
static unsigned dpdk_burst(struct source_dpdk *d, struct source_batch *b)
{
	struct rte_mbuf *pkts[SOURCE_DPDK_BURST];
	uint16_t n = rte_eth_rx_burst(d->cfg.port, 0, pkts, SOURCE_DPDK_BURST);
	uint64_t bytes0 = d->st.bytes;
	int64_t rx_ns;
	uint16_t i;

	if (n == 0)
		return 0;
	rx_ns = timefmt_now_ns();
	for (i = 0; i < n; i++) {
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		dpdk_frame(d, pkts[i], rx_ns);
	}
	rte_pktmbuf_free_bulk(pkts, n);
	if (unlikely(!d->st.first_rx_ns))
		d->st.first_rx_ns = rx_ns;
	d->st.last_rx_ns = rx_ns;
	d->st.frames += n;
	d->st.bursts++;
	b->events += n;
	b->bytes += d->st.bytes - bytes0;
	if (!b->oldest_rx_ns)
		b->oldest_rx_ns = rx_ns;
	return n;
}

/* Reads what each kernel socket holds, up to SOURCE_DPDK_SOCK_BURST each. */
static unsigned dpdk_sockets(struct source_dpdk *d, struct source_batch *b)
{
	unsigned i, k, got = 0;

	for (i = 0; i < d->cfg.nchans; i++) {
		if (!d->cfg.chan_is_socket[i])
			continue;
		for (k = 0; k < SOURCE_DPDK_SOCK_BURST; k++) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			struct source_chan ch = {.listen = (uint16_t)i,
			                         .conn = SOURCE_CONN_NONE,
			                         .peer = (const struct sockaddr *)&from};
			ssize_t r =
			        recvfrom(d->cfg.sockets[i], d->sockbuf, sizeof(d->sockbuf),
			                 MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &fl);
			int64_t now;

			if (r < 0) {
				if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
					d->st.sock_errors++;
					if (ratelimit_allow(&d->sock_rl, timefmt_now_ns(), NULL))
						log_warn("dpdk: re-request socket: recv: %s",
						         strerror(errno));
				}
				break;
			}
			if ((size_t)r > sizeof(d->sockbuf)) {
				d->st.sock_errors++; /* truncated: never delivered */
				continue;
			}
			now = timefmt_now_ns();
			ch.peerlen = fl;
			d->st.sock_datagrams++;
			d->h.datagram(d->h.ctx, &ch, d->sockbuf, (size_t)r, now, false);
			b->events++;
			b->bytes += (uint64_t)r;
			if (!b->oldest_rx_ns)
				b->oldest_rx_ns = now;
			got++;
		}
	}
	return got;
}

static void dpdk_port_stats(struct source_dpdk *d)
{
	struct rte_eth_stats es;

	if (rte_eth_stats_get(d->cfg.port, &es) == 0) {
		d->st.ipackets = es.ipackets;
		d->st.imissed = es.imissed;
		d->st.ierrors = es.ierrors;
		d->st.rx_nombuf = es.rx_nombuf;
	}
}

static void dpdk_batch_end(struct source_dpdk *d, struct source_batch *b, uint64_t now_tsc)
{
	b->backend = SOURCE_IO_AUTO; /* not a socket backend: enum source_io has no DPDK */
	d->h.batch_end(d->h.ctx, b);
	d->last_batch_tsc = now_tsc;
	memset(b, 0, sizeof(*b));
}

/* The periodic work of one loop turn: sockets, port stats, idle batch_end. */
static void dpdk_timers(struct source_dpdk *d, struct source_batch *b, uint64_t now)
{
	if (now >= d->next_sock_tsc) {
		dpdk_sockets(d, b);
		d->next_sock_tsc = now + d->tsc_hz * SOURCE_DPDK_SOCK_POLL_US / 1000000;
	}
	if (now >= d->next_stats_tsc) {
		dpdk_port_stats(d);
		d->next_stats_tsc = now + d->tsc_hz * SOURCE_DPDK_STATS_MS / 1000;
	}
	if (b->events || now - d->last_batch_tsc >= d->tsc_hz * SOURCE_WAIT_MS / 1000)
		dpdk_batch_end(d, b, now);
}

static void dpdk_nap(struct source_dpdk *d)
{
	struct timespec ts = {0, (long)d->cfg.idle_us * 1000};

	if (d->cfg.idle_us && ++d->idle_polls >= SOURCE_DPDK_IDLE_POLLS)
		nanosleep(&ts, NULL);
}

/* After the stop flag: what the queue and the sockets still hold. */
static void dpdk_drain(struct source_dpdk *d, struct source_batch *b)
{
	unsigned i, empty = 0;

	for (i = 0; i < SOURCE_DPDK_DRAIN_BURSTS && empty < SOURCE_DPDK_DRAIN_EMPTY; i++) {
		if (dpdk_burst(d, b) == 0) {
			empty++;
			continue;
		}
		empty = 0;
		d->h.batch_end(d->h.ctx, b);
		memset(b, 0, sizeof(*b));
	}
	dpdk_sockets(d, b);
	dpdk_port_stats(d);
	dpdk_batch_end(d, b, rte_rdtsc());
}

/* The main loop: unbounded by design, it ends when the stop flag is set. */
static int dpdk_loop(void *arg)
{
	struct source_dpdk *d = arg;
	struct source_batch b = {0};

	d->last_batch_tsc = rte_rdtsc();
	while (!*d->cfg.stop) {
		uint64_t now;

		if (dpdk_burst(d, &b))
			d->idle_polls = 0;
		else
			dpdk_nap(d);
		now = rte_rdtsc();
		dpdk_timers(d, &b, now);
	}
	dpdk_drain(d, &b);
	atomic_store(&d->done, true);
	return 0;
}

int source_dpdk_run(struct source_dpdk *d)
{
	struct timespec ts = {0, 10 * 1000000};
	int ret;

	ENSURE(d && d->port_started);
	atomic_store(&d->done, false);
	if (d->rx_lcore == rte_get_main_lcore())
		return dpdk_loop(d);
	ret = rte_eal_remote_launch(dpdk_loop, d, d->rx_lcore);
	if (ret < 0) {
		log_error("dpdk: rte_eal_remote_launch: lcore %u: %s", d->rx_lcore, strerror(-ret));
		return -1;
	}
	/* rte_eal_wait_lcore spins: nap here until the loop says it is done. */
	while (!atomic_load(&d->done))
		nanosleep(&ts, NULL);
	return rte_eal_wait_lcore(d->rx_lcore) < 0 ? -1 : 0;
}

void source_dpdk_stats(const struct source_dpdk *d, struct source_dpdk_stats *out)
{
	*out = d->st;
}

const char *source_dpdk_version(void)
{
	return rte_version();
}

const char *source_dpdk_port_name(const struct source_dpdk *d)
{
	return d->port_name[0] ? d->port_name : "?";
}

/* Removes the runtime directory of our own --file-prefix (bounded). */
static void dpdk_remove_runtime_dir(const char *dir)
{
	char path[PATH_MAX + 256];
	struct dirent *e;
	unsigned n = 0;
	DIR *dp = opendir(dir);

	if (!dp)
		return;
	while ((e = readdir(dp)) && n++ < DPDK_DIR_ENTRIES_MAX) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(dp);
	if (rmdir(dir) < 0 && errno != ENOENT)
		log_warn("dpdk: rmdir %s: %s", dir, strerror(errno));
}

void source_dpdk_close(struct source_dpdk *d)
{
	int ret;

	if (!d)
		return;
	if (d->port_started && (ret = rte_eth_dev_stop(d->cfg.port)) < 0)
		log_warn("dpdk: rte_eth_dev_stop: port %u: %s", d->cfg.port, strerror(-ret));
	if (d->port_configured)
		rte_eth_dev_close(d->cfg.port);
	if (d->pool)
		rte_mempool_free(d->pool);
	if (d->eal_up && (ret = rte_eal_cleanup()) < 0)
		log_warn("dpdk: rte_eal_cleanup: %s", strerror(-ret));
	if (d->eal_up && d->own_prefix && d->runtime_dir[0])
		dpdk_remove_runtime_dir(d->runtime_dir);
	free(d);
}
