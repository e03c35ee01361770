/* dpdk_free_baseline.c -- the floor `trades serve --dpdk` is measured against:
 * the same EAL, port, rx queue, mempool and rx lcore choice, and an rx loop
 * that only frees the mbufs it gets.
 *
 *   bench_dpdk_free EXPECTED_FRAMES IDLE_MS EAL ARGS...
 *
 * Receives until EXPECTED_FRAMES frames came in, or IDLE_MS after the last
 * frame (after the first one), and prints one line:
 *   frames N bursts B ns T pps P    (T: first to last frame, batch clock)
 * Exit 0, 1 on an EAL or port error (named), 2 on usage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#define FREE_BURST 32   /* as SOURCE_DPDK_BURST */
#define FREE_RXD   1024 /* as SOURCE_DPDK_RXD_DEFAULT */
#define FREE_MBUFS 8191 /* as the default pool of trades at 1024 rxd */
#define FREE_CACHE 256
#define FREE_TXD   64

struct free_run {
	uint64_t expected, idle_ms;
	uint64_t frames, bursts;
	int64_t first_ns, last_ns;
};

static int64_t free_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The loop: bounded by the expected count and the idle timeout. */
static int free_loop(void *arg)
{
	struct free_run *r = arg;
	struct rte_mbuf *pkts[FREE_BURST];
	int64_t idle_ns = (int64_t)r->idle_ms * 1000000;

	while (r->frames < r->expected) {
		uint16_t n = rte_eth_rx_burst(0, 0, pkts, FREE_BURST);
		int64_t now = free_now_ns(); /* as trades: one clock read per burst */

		if (n == 0) {
			if (r->first_ns && now - r->last_ns > idle_ns)
				break;
			continue;
		}
		rte_pktmbuf_free_bulk(pkts, n);
		if (!r->first_ns)
			r->first_ns = now;
		r->last_ns = now;
		r->frames += n;
		r->bursts++;
	}
	return 0;
}

static void free_port(void)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info info;
	struct rte_mempool *pool;
	uint16_t rxd = FREE_RXD, txd = FREE_TXD;
	unsigned ntx;
	int ret;

	if (rte_eth_dev_count_avail() == 0)
		rte_exit(EXIT_FAILURE, "no DPDK port: give --vdev\n");
	ret = rte_eth_dev_info_get(0, &info);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "rte_eth_dev_info_get: %s\n", strerror(-ret));
	ntx = info.max_tx_queues > 0;
	ret = rte_eth_dev_configure(0, 1, (uint16_t)ntx, &conf);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "rte_eth_dev_configure: %s\n", strerror(-ret));
	if (!ntx)
		txd = 0;
	rte_eth_dev_adjust_nb_rx_tx_desc(0, &rxd, &txd);
	pool = rte_pktmbuf_pool_create("free_rx", FREE_MBUFS, FREE_CACHE, 0,
	                               RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (!pool)
		rte_exit(EXIT_FAILURE, "rte_pktmbuf_pool_create: %s\n", rte_strerror(rte_errno));
	ret = rte_eth_rx_queue_setup(0, 0, rxd, rte_socket_id(), NULL, pool);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "rte_eth_rx_queue_setup: %s\n", strerror(-ret));
	if (ntx && (ret = rte_eth_tx_queue_setup(0, 0, txd, rte_socket_id(), NULL)) < 0)
		rte_exit(EXIT_FAILURE, "rte_eth_tx_queue_setup: %s\n", strerror(-ret));
	ret = rte_eth_dev_start(0);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "rte_eth_dev_start: %s\n", strerror(-ret));
	rte_eth_allmulticast_enable(0);
}

int main(int argc, char **argv)
{
	struct free_run r = {0};
	char *end;
	unsigned lcore;
	int ret;

	if (argc < 3) {
		fprintf(stderr, "usage: %s EXPECTED_FRAMES IDLE_MS EAL ARGS...\n", argv[0]);
		return 2;
	}
	r.expected = strtoull(argv[1], &end, 10);
	if (*end || r.expected == 0)
		return fprintf(stderr, "bad EXPECTED_FRAMES '%s'\n", argv[1]), 2;
	r.idle_ms = strtoull(argv[2], &end, 10);
	if (*end || r.idle_ms == 0 || r.idle_ms > 600000)
		return fprintf(stderr, "bad IDLE_MS '%s'\n", argv[2]), 2;
	argv[2] = argv[0];
	ret = rte_eal_init(argc - 2, argv + 2);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "rte_eal_init: %s\n", rte_strerror(rte_errno));
	free_port();
	lcore = rte_get_next_lcore(-1, 1, 0);
	if (lcore >= RTE_MAX_LCORE)
		free_loop(&r);
	else if (rte_eal_remote_launch(free_loop, &r, lcore) == 0)
		rte_eal_wait_lcore(lcore);
	printf("frames %llu bursts %llu ns %lld pps %llu\n", (unsigned long long)r.frames,
	       (unsigned long long)r.bursts, (long long)(r.last_ns - r.first_ns),
	       r.last_ns > r.first_ns ? (unsigned long long)(r.frames * 1000000000.0 /
	                                                     (double)(r.last_ns - r.first_ns))
	                              : 0ULL);
	rte_eth_dev_stop(0);
	rte_eth_dev_close(0);
	rte_eal_cleanup();
	return 0;
}
