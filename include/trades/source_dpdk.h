/* source_dpdk.h -- kernel-bypass UDP ingest with DPDK 22.11 (source_dpdk.c).
 *
 * One more backend behind struct source_handler: EAL init, one port with one
 * rx queue, a mempool sized from the options, and an rx burst loop on its own
 * lcore (the first worker lcore of the EAL's -l/--lcores set, else the main
 * lcore).  Each frame is parsed in place -- Ethernet, up to two VLAN tags,
 * IPv4, UDP -- and its payload handed to handler->datagram without a copy,
 * with ch.listen = the index the filter got from source_dpdk_add_filter.
 * The burst's mbufs are then freed in bulk and batch_end called once per
 * burst that held anything (and at least every SOURCE_WAIT_MS when idle).
 *
 * Frames no filter takes (ARP, other protocols, other ports or groups, IPv4
 * fragments, runts, bad IPv4 checksums) are counted by kind and never fatal.
 *
 * Kernel UDP sockets can ride along (source_dpdk_add_socket): the MoldUDP64
 * re-request socket, whose answers come back through the kernel.  They are
 * read non-blocking every SOURCE_DPDK_SOCK_POLL_US on the rx lcore and
 * delivered through the same handler, so every callback runs on one thread.
 *
 * Only compiled when meson finds libdpdk (HAVE_DPDK in config.h): callers
 * may use the constants and types always, the functions only under
 * HAVE_DPDK (serve_dpdk.c and version.c do).
 */
#ifndef TRADES_SOURCE_DPDK_H
#define TRADES_SOURCE_DPDK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trades/source.h"

#define SOURCE_DPDK_CHANS_MAX       SOURCE_LISTEN_MAX /* filters + sockets */
#define SOURCE_DPDK_BURST           32                /* mbufs per rte_eth_rx_burst */
#define SOURCE_DPDK_RXD_DEFAULT     1024              /* rx descriptors (--dpdk-rxd) */
#define SOURCE_DPDK_RXD_MAX         16384
#define SOURCE_DPDK_MBUF_CACHE      256  /* per-lcore mempool cache */
#define SOURCE_DPDK_MBUFS_MIN_POOL  8191 /* default pool floor (2^n - 1 is optimal) */
#define SOURCE_DPDK_MBUFS_MAX       (1u << 22)
#define SOURCE_DPDK_EAL_ARGC_MAX    64   /* words in --dpdk "EAL ARGS" */
#define SOURCE_DPDK_EAL_LEN_MAX     2048 /* bytes in it */
#define SOURCE_DPDK_IDLE_POLLS      256  /* empty bursts in a row before a nap */
#define SOURCE_DPDK_IDLE_US_DEFAULT 20   /* nap length (--dpdk-idle-us; 0 = busy poll) */
#define SOURCE_DPDK_IDLE_US_MAX     10000
#define SOURCE_DPDK_SOCK_POLL_US    200   /* kernel sockets read this often */
#define SOURCE_DPDK_SOCK_BURST      64    /* datagrams per socket per poll */
#define SOURCE_DPDK_STATS_MS        100   /* rte_eth_stats_get this often */
#define SOURCE_DPDK_DRAIN_BURSTS    65536 /* bursts at most when draining at stop */
#define SOURCE_DPDK_DRAIN_EMPTY     16    /* empty bursts in a row that end the drain */
#define SOURCE_DPDK_VLAN_MAX        2     /* stacked VLAN tags parsed (QinQ) */

/* Default pool: what one rx ring, one burst in flight and the cache hold,
 * twice over (l2fwd's formula, with no tx side), and at least the floor. */
#define SOURCE_DPDK_MBUFS_NEEDED(rxd) ((uint32_t)(rxd) + SOURCE_DPDK_BURST + SOURCE_DPDK_MBUF_CACHE)

_Static_assert(SOURCE_DPDK_BURST <= SOURCE_BURST, "a DPDK burst is one source batch");
_Static_assert(SOURCE_DPDK_MBUFS_NEEDED(SOURCE_DPDK_RXD_MAX) <= SOURCE_DPDK_MBUFS_MAX,
               "the largest ring fits the largest pool");
_Static_assert(SOURCE_DPDK_DRAIN_EMPTY < SOURCE_DPDK_DRAIN_BURSTS, "the drain can end early");

/* Why a frame was not delivered.  Append only (names are in logs). */
enum source_dpdk_drop {
	SOURCE_DPDK_DROP_ARP,         /* ARP (ethertype 0x0806) */
	SOURCE_DPDK_DROP_NOT_IPV4,    /* other ethertypes: IPv6, LLDP, ... */
	SOURCE_DPDK_DROP_NOT_UDP,     /* IPv4 but not UDP (ICMP, IGMP, TCP) */
	SOURCE_DPDK_DROP_FRAGMENT,    /* IPv4 fragment (MF set or offset != 0) */
	SOURCE_DPDK_DROP_RUNT,        /* shorter than its headers or lengths claim */
	SOURCE_DPDK_DROP_BAD_CSUM,    /* IPv4 header checksum wrong (NIC or software) */
	SOURCE_DPDK_DROP_OTHER_PORT,  /* UDP to a port no filter has */
	SOURCE_DPDK_DROP_OTHER_GROUP, /* the port matched, the destination group did not */
	SOURCE_DPDK_DROP_SCATTERED,   /* multi-segment mbuf (jumbo frame): not parsed */
	SOURCE_DPDK_DROP_COUNT
};

/* snake_case name of a drop kind ("other_port"); "?" when out of range. */
const char *source_dpdk_drop_name(enum source_dpdk_drop k);

/* A UDP destination the rx loop delivers: port, and optionally the IPv4
 * destination address (a multicast group, or any address). */
struct source_dpdk_filter {
	uint16_t udp_port; /* host order, 1..65535 */
	uint32_t group;    /* IPv4 destination, network order; 0 = any */
};

/* Everything source_dpdk_open needs.  Zero it, set the fields, then add
 * filters and sockets: both share one channel index space (ch.listen), in
 * the order they are added. */
struct source_dpdk_config {
	const char *eal_args;        /* --dpdk "EAL ARGS": split on blanks, no quoting */
	uint16_t port;               /* ethdev port id (--dpdk-port, 0) */
	uint16_t rxd;                /* rx descriptors; 0: SOURCE_DPDK_RXD_DEFAULT */
	uint32_t mbufs;              /* mempool size; 0: from rxd (SOURCE_DPDK_MBUFS_NEEDED) */
	uint32_t idle_us;            /* nap after SOURCE_DPDK_IDLE_POLLS empty bursts; 0 = spin */
	bool check_ipv4_csum;        /* verify IPv4 header checksums in software when the
	                                NIC does not (--dpdk-csum) */
	volatile sig_atomic_t *stop; /* set by the signal handler: drain and return */
	unsigned nchans;             /* filters + sockets added */
	bool chan_is_socket[SOURCE_DPDK_CHANS_MAX];
	struct source_dpdk_filter filters[SOURCE_DPDK_CHANS_MAX]; /* by channel index */
	int sockets[SOURCE_DPDK_CHANS_MAX];                       /* by channel index */
};

/* What the backend saw: process-local totals since open. */
struct source_dpdk_stats {
	uint64_t frames;    /* mbufs taken from the rx queue */
	uint64_t datagrams; /* payloads delivered (filters) */
	uint64_t bytes;     /* payload bytes delivered (filters) */
	uint64_t bursts;    /* rx bursts that held at least one frame */
	uint64_t dropped;   /* frames not delivered: the sum of drops[] */
	uint64_t drops[SOURCE_DPDK_DROP_COUNT];
	uint64_t sock_datagrams; /* datagrams read from the kernel sockets */
	uint64_t sock_errors;    /* recv errors on them (counted, rate-limited log) */
	int64_t first_rx_ns;     /* batch clock of the first burst with frames; 0 = none yet */
	int64_t last_rx_ns;      /* ... and of the last one (first to last: the busy span) */
	/* rte_eth_stats of the port, refreshed every SOURCE_DPDK_STATS_MS */
	uint64_t ipackets, imissed, ierrors, rx_nombuf;
};

struct source_dpdk;

/* Adds a filter: UDP port, and group (dotted IPv4, or NULL for any
 * destination).  Returns its channel index (>= 0), or -1 with err. */
int source_dpdk_add_filter(struct source_dpdk_config *c, uint16_t udp_port, const char *group,
                           char *err, size_t errlen);
/* Adds a bound non-blocking kernel UDP socket to read on the rx lcore.
 * Returns its channel index (>= 0), or -1 with err when the table is full. */
int source_dpdk_add_socket(struct source_dpdk_config *c, int fd, char *err, size_t errlen);

/* EAL init (with a unique --file-prefix trades-PID unless the arguments
 * name one, and --no-telemetry unless they say --telemetry), then the
 * mempool, the port's rx queue, start.  h is copied.  Returns the source,
 * or NULL with err naming the call, the port and rte_errno; whatever was
 * set up is undone (the EAL too). */
struct source_dpdk *source_dpdk_open(const struct source_dpdk_config *cfg,
                                     const struct source_handler *h, char *err, size_t errlen);
/* Runs the rx loop on the rx lcore until *cfg.stop, then drains the queue
 * (at most SOURCE_DPDK_DRAIN_BURSTS bursts) and the sockets, and calls
 * batch_end a last time.  The calling thread waits, napping.  0, or -1 when
 * the loop could not be launched (logged). */
int source_dpdk_run(struct source_dpdk *d);
/* Copy of the counters.  From a handler callback (the rx lcore) or after
 * source_dpdk_run returned. */
void source_dpdk_stats(const struct source_dpdk *d, struct source_dpdk_stats *out);
/* The DPDK library's version string ("DPDK 22.11.11"), for `trades version`. */
const char *source_dpdk_version(void);
/* Device name ("net_pcap0") and driver of the port, for logs. */
const char *source_dpdk_port_name(const struct source_dpdk *d);
/* rte_eth_dev_stop, close, mempool free, rte_eal_cleanup, and the removal
 * of the default runtime directory /var/run/dpdk/trades-PID.  NULL is a
 * no-op.  The sockets stay open (the caller owns them). */
void source_dpdk_close(struct source_dpdk *d);

#endif
