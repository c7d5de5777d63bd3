/* guests/net_echo.c — virtio-net through a tiny polled driver: asks for the peer's MAC with an
 * ARP request (10.77.0.2 → who has 10.77.0.1), then pings it (ICMP echo) and waits for the
 * reply. Prints what it got and exits 0; 2 if the peer never answers. Frames are sent as two
 * descriptors (virtio_net_hdr, then the frame). Addresses: cmdline ip=/peer= last octets. */
#include "virtio_guest.h"

#define NRX 4
static struct vq rxq __attribute__((aligned(4096)));
static struct vq txq __attribute__((aligned(4096)));
static uint8_t rxbuf[NRX][2048];
static uint8_t txhdr[12];
static uint8_t frame[128];
static uint8_t mac[6], peer_mac[6];
static uint8_t my_ip[4] = {10, 77, 0, 2}, peer_ip[4] = {10, 77, 0, 1};

static void post_rx(unsigned i)
{
	rxq.desc[i] = (struct vq_desc){(uint64_t)(uintptr_t)rxbuf[i], sizeof(rxbuf[i]), 2, 0};
	rxq.avail.ring[rxq.avail.idx % VQ_SIZE] = (uint16_t)i;
	barrier();
	rxq.avail.idx++;
}

static void copy(uint8_t *d, const uint8_t *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		d[i] = s[i];
}

static int same(const uint8_t *a, const uint8_t *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t csum(const uint8_t *p, unsigned n)
{
	uint32_t s = 0;
	for (unsigned i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void send(uint64_t base, unsigned len)
{
	txq.desc[0] = (struct vq_desc){(uint64_t)(uintptr_t)txhdr, sizeof(txhdr), 1, 1};
	txq.desc[1] = (struct vq_desc){(uint64_t)(uintptr_t)frame, len, 0, 0};
	if (vq_submit_wait(base, &txq, 1, 0) < 0) {
		print("net_echo: device needs reset\n");
		guest_exit(1);
	}
}

static void send_arp(uint64_t base)
{
	for (int i = 0; i < 6; i++)
		frame[i] = 0xff;
	copy(frame + 6, mac, 6);
	put16(frame + 12, 0x0806);
	uint8_t *a = frame + 14;
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6, a[5] = 4;
	put16(a + 6, 1); /* request */
	copy(a + 8, mac, 6);
	copy(a + 14, my_ip, 4);
	for (int i = 0; i < 6; i++)
		a[18 + i] = 0;
	copy(a + 24, peer_ip, 4);
	send(base, 42);
}

static const char payload[] = "fastvmm-net-echo";

static void send_ping(uint64_t base)
{
	copy(frame, peer_mac, 6);
	copy(frame + 6, mac, 6);
	put16(frame + 12, 0x0800);
	uint8_t *ip = frame + 14, *icmp = ip + 20;
	unsigned plen = sizeof(payload) - 1, ilen = 20 + 8 + plen;
	ip[0] = 0x45, ip[1] = 0;
	put16(ip + 2, (uint16_t)ilen);
	put16(ip + 4, 1);
	put16(ip + 6, 0x4000);
	ip[8] = 64, ip[9] = 1;
	put16(ip + 10, 0);
	copy(ip + 12, my_ip, 4);
	copy(ip + 16, peer_ip, 4);
	put16(ip + 10, csum(ip, 20));
	icmp[0] = 8, icmp[1] = 0;
	put16(icmp + 2, 0);
	put16(icmp + 4, 0x4656); /* id */
	put16(icmp + 6, 1);      /* seq */
	copy(icmp + 8, (const uint8_t *)payload, plen);
	put16(icmp + 2, csum(icmp, 8 + plen));
	send(base, 14 + ilen);
}

/* Handle one received frame; returns 1 for an ARP reply from the peer, 2 for the echo reply. */
static int receive(const uint8_t *f, unsigned len)
{
	if (len < 14 + 28)
		return 0;
	if (f[12] == 0x08 && f[13] == 0x06 && f[14 + 7] == 2 && same(f + 14 + 14, peer_ip, 4)) {
		copy(peer_mac, f + 14 + 8, 6);
		return 1;
	}
	const uint8_t *ip = f + 14, *icmp = ip + 20;
	if (f[12] == 0x08 && f[13] == 0x00 && ip[9] == 1 && same(ip + 12, peer_ip, 4) &&
	    len >= 14 + 28 + sizeof(payload) - 1 && icmp[0] == 0 &&
	    same(icmp + 8, (const uint8_t *)payload, sizeof(payload) - 1))
		return 2;
	return 0;
}

void guest_main(const char *cmdline)
{
	my_ip[3] = (uint8_t)cmdline_uint(cmdline, "ip", 2);
	peer_ip[3] = (uint8_t)cmdline_uint(cmdline, "peer", 1);
	uint64_t base = cmdline_virtio_base(cmdline, cmdline_uint(cmdline, "dev", 0));
	if (!base) {
		print("net_echo: no virtio_mmio.device= on the command line\n");
		guest_exit(1);
	}
	/* loose=1: negotiate like Unikraft 0.17's driver (see virtio_negotiate_loose()), which
	 * also insists on VIRTIO_NET_F_MAC (5) and misreads the MTU if VIRTIO_NET_F_MTU (3) is
	 * offered: say what the device offers. */
	unsigned loose = cmdline_uint(cmdline, "loose", 0);
	mmio_wr(base, 0x014, 0);
	uint32_t offered = mmio_rd(base, 0x010);
	if (loose) {
		print(offered & (1u << 5) ? "net_echo: offered MAC=yes"
		                          : "net_echo: offered MAC=no");
		print(offered & (1u << 3) ? " MTU=yes\n" : " MTU=no\n");
	}
	int r = loose ? virtio_negotiate_loose(base, 1, 1u << 5 /* MAC */)
	              : virtio_negotiate(base, 1, 1u << 5 /* MAC */);
	if (!r)
		r = virtio_queue(base, &rxq, 0, VQ_SIZE);
	if (!r)
		r = virtio_queue(base, &txq, 1, VQ_SIZE);
	if (r) {
		print("net_echo: virtio init failed, step ");
		print_uint((unsigned)r);
		print("\n");
		guest_exit(1);
	}
	for (int i = 0; i < 6; i++)
		mac[i] = *(volatile uint8_t *)(uintptr_t)(base + 0x100 + (unsigned)i);
	for (unsigned i = 0; i < NRX; i++)
		post_rx(i);
	mmio_wr(base, 0x070, 15);
	mmio_wr(base, 0x050, 0);
	ready();
	int state = 0; /* 0: want ARP reply, 1: want echo reply */
	unsigned frames = 0;
	for (unsigned attempt = 0; attempt < 200 && state < 2; attempt++) {
		if (state == 0)
			send_arp(base);
		else
			send_ping(base);
		for (unsigned spin = 0; spin < 3000 && state < 2; spin++) {
			if (*(volatile uint16_t *)&rxq.used.idx == rxq.last_used) {
				__asm__ volatile("pause");
				continue;
			}
			barrier();
			struct vq_used_elem e = rxq.used.ring[rxq.last_used % VQ_SIZE];
			rxq.last_used++;
			frames++;
			if (e.id < NRX && e.len > 12) {
				int got = receive(rxbuf[e.id] + 12, e.len - 12);
				if (got == 1 && state == 0) {
					state = 1;
					send_ping(base);
					spin = 0;
				} else if (got == 2 && state == 1) {
					state = 2;
				}
			}
			if (e.id < NRX) {
				post_rx(e.id);
				mmio_wr(base, 0x050, 0);
			}
		}
	}
	if (state < 2) {
		print(state ? "net_echo: no echo reply\n" : "net_echo: no ARP reply\n");
		guest_exit(2);
	}
	print("net_echo: peer mac ");
	for (int i = 0; i < 6; i++) {
		char h[4] = {"0123456789abcdef"[peer_mac[i] >> 4],
		             "0123456789abcdef"[peer_mac[i] & 15], i < 5 ? ':' : 0, 0};
		print(h);
	}
	print(", ICMP echo reply received (");
	print_uint(frames);
	print(" frames)\n");
	guest_exit(0);
}
