/* source_pcap.c -- a capture file as a source backend: the UDP payloads of
 * every packet, in capture order, stamped with the capture time, delivered
 * as datagram() calls of the same source_handler the sockets use.  This is
 * how a recorded MoldUDP64 session (or one written by trades-gen --pcap) is
 * replayed through the same decoder and sequencer as the live sockets. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "source_internal.h"

#if HAVE_PCAP
#include <pcap/pcap.h>

#define PCAP_ETH_HLEN 14
#define PCAP_SLL_HLEN 16
#define PCAP_VLAN_MAX 2 /* stacked 802.1Q/802.1ad tags skipped */

/* Offset of the IP header for the link type, or -1 if not IP. */
static int pcap_ip_offset(int linktype, const uint8_t *p, uint32_t caplen)
{
	uint32_t off;
	uint16_t ethertype;
	int v;

	switch (linktype) {
	case DLT_RAW:
		return 0;
	case DLT_LINUX_SLL:
		return caplen >= PCAP_SLL_HLEN && p[14] == 0x08 && p[15] == 0x00 ? PCAP_SLL_HLEN
		                                                                 : -1;
	case DLT_EN10MB:
		off = 12;
		for (v = 0; v <= PCAP_VLAN_MAX; v++) {
			if (caplen < off + 2)
				return -1;
			ethertype = (uint16_t)(p[off] << 8 | p[off + 1]);
			if (ethertype != 0x8100 && ethertype != 0x88a8)
				break;
			off += 4;
		}
		return ethertype == 0x0800 || ethertype == 0x86dd ? (int)off + 2 : -1;
	default:
		return -1;
	}
}

/* The UDP payload of an IPv4 or IPv6 packet at p[off..caplen); NULL if it
 * is not one, is a fragment, or was cut by the capture. */
static const uint8_t *pcap_udp_payload(const uint8_t *p, uint32_t caplen, uint32_t off, size_t *len,
                                       struct source_pcap_stats *st)
{
	uint32_t ihl, udp_len;

	if (caplen < off + 1)
		return NULL;
	if ((p[off] >> 4) == 4) {
		ihl = (uint32_t)(p[off] & 0x0f) * 4;
		if (ihl < 20 || caplen < off + ihl + 8 || p[off + 9] != IPPROTO_UDP)
			return NULL;
		if ((p[off + 6] & 0x3f) || p[off + 7]) { /* MF flag or a fragment offset */
			st->fragments++;
			return NULL;
		}
		off += ihl;
	} else if ((p[off] >> 4) == 6) {
		if (caplen < off + 48 || p[off + 6] != IPPROTO_UDP)
			return NULL; /* extension headers are not followed */
		off += 40;
	} else {
		return NULL;
	}
	udp_len = (uint32_t)(p[off + 4] << 8 | p[off + 5]);
	if (udp_len < 8 || off + udp_len > caplen) {
		st->truncated++;
		return NULL;
	}
	*len = udp_len - 8;
	return p + off + 8;
}

static void pcap_batch_end(const struct source_handler *h, struct source_batch *b)
{
	b->backend = SOURCE_IO_PCAP;
	if (h->batch_end)
		h->batch_end(h->ctx, b);
	memset(b, 0, sizeof(*b));
}

/* One UDP payload as a datagram of the batch b. */
static void pcap_deliver(const struct source_handler *h, uint16_t listen, struct source_batch *b,
                         const uint8_t *payload, size_t len, int64_t ts_ns)
{
	struct source_chan ch = {.listen = listen, .conn = SOURCE_CONN_NONE};

	if (h->datagram)
		h->datagram(h->ctx, &ch, payload, len, ts_ns, false);
	if (b->events == 0 || ts_ns < b->oldest_rx_ns)
		b->oldest_rx_ns = ts_ns;
	b->events++;
	b->bytes += len;
	if (b->events == SOURCE_BURST)
		pcap_batch_end(h, b);
}

int source_pcap_run(const char *path, const struct source_handler *h, uint16_t listen,
                    struct source_pcap_stats *st, char *err, size_t errlen)
{
	struct source_batch b = {0};
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *ph;
	const uint8_t *pkt, *payload;
	pcap_t *pc;
	int linktype, off, rc;
	size_t len;

	memset(st, 0, sizeof(*st));
	pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!pc)
		return errfmt(err, errlen, "pcap %s: %s", path, errbuf);
	linktype = pcap_datalink(pc);
	/* One pass over the file: ends at its end or at a read error. */
	while ((rc = pcap_next_ex(pc, &ph, &pkt)) == 1) {
		st->packets++;
		off = pcap_ip_offset(linktype, pkt, ph->caplen);
		payload =
		        off < 0 ? NULL : pcap_udp_payload(pkt, ph->caplen, (uint32_t)off, &len, st);
		if (!payload) {
			st->skipped++;
			continue;
		}
		st->udp++;
		pcap_deliver(h, listen, &b, payload, len,
		             (int64_t)ph->ts.tv_sec * 1000000000LL + ph->ts.tv_usec);
	}
	pcap_batch_end(h, &b);
	if (rc == PCAP_ERROR)
		errfmt(err, errlen, "pcap %s: after %llu packets: %s", path,
		       (unsigned long long)st->packets, pcap_geterr(pc));
	pcap_close(pc);
	return rc == PCAP_ERROR ? -1 : 0;
}
#else
int source_pcap_run(const char *path, const struct source_handler *h, uint16_t listen,
                    struct source_pcap_stats *st, char *err, size_t errlen)
{
	(void)h;
	(void)listen;
	memset(st, 0, sizeof(*st));
	return errfmt(err, errlen,
	              "pcap %s: this build has no libpcap (install libpcap-dev, rebuild)", path);
}
#endif
