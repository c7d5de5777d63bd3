/* devices/serial.c — a 16550A UART at COM1, enough for Linux's 8250 driver (which probes the
 * scratch register, IER and loopback) and for polled output from tiny guests.
 * Transmission is instantaneous, so LSR always reports THR/TSR empty. Registers and bits
 * follow the National Semiconductor PC16550D datasheet. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "snapshot.h"
#include "vmm.h"

#define UART_RBR 0 /* read, DLAB=0 */
#define UART_THR 0 /* write, DLAB=0 */
#define UART_IER 1
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define LCR_DLAB 0x80
#define IER_RDI  0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI  0x04
#define IIR_FIFO 0xc0
#define LSR_DR   0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MSR_DCD  0x80
#define MSR_DSR  0x20
#define MSR_CTS  0x10

static uint8_t iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & 1) ? IIR_FIFO : 0;
	if ((s->ier & IER_RDI) && s->rx_count)
		return IIR_RDI | fifo;
	if ((s->ier & IER_THRI) && s->iir_thri_pending)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

/* The IRQ line follows "an interrupt is pending" (edge on the rising transition). */
static void update_irq(struct serial *s)
{
	int level = (iir(s) & IIR_NONE) ? 0 : 1;
	if (level != s->irq_level) {
		s->irq_level = level;
		vm_irq_line(s->vm, SERIAL_IRQ, level);
	}
}

static void out_write(struct serial *s, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(s->out_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* console gone: the guest carries on */
		p += w;
		n -= (size_t)w;
	}
}

void serial_flush(struct serial *s)
{
	if (s->outlen && s->out_fd >= 0)
		out_write(s, s->outbuf, s->outlen);
	s->outlen = 0;
}

static void emit(struct serial *s, uint8_t c)
{
	if (!s->bytes_out++)
		vm_mark(s->vm, ST_FIRST_OUTPUT);
	if (s->on_byte)
		s->on_byte(s->vm, c);
	if (s->out_fd < 0)
		return;
	s->outbuf[s->outlen++] = (char)c;
	/* Whole lines to files and pipes (one write per line); every byte to a terminal. */
	if (s->out_unbuffered || c == '\n' || s->outlen == sizeof(s->outbuf))
		serial_flush(s);
}

static void rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_count == SERIAL_RX_FIFO)
		return; /* overrun: drop */
	s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_FIFO] = c;
	s->rx_count++;
}

static void serial_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool wr)
{
	struct serial *s = opaque;
	if (len != 1)
		return; /* 8-bit registers only; wider reads see 0xff */
	pthread_mutex_lock(&s->lock);
	bool dlab = s->lcr & LCR_DLAB;
	if (wr) {
		uint8_t v = data[0];
		switch (off) {
		case UART_THR:
			if (dlab) {
				s->dll = v;
			} else if (s->mcr & MCR_LOOP) {
				rx_push(s, v);
			} else {
				emit(s, v);
			}
			if (!dlab)
				s->iir_thri_pending = 1; /* THR is empty again at once */
			break;
		case UART_IER:
			if (dlab) {
				s->dlm = v;
			} else {
				/* Enabling THRI with an empty THR raises the interrupt (16550
				 * behaviour Linux's driver relies on to start transmitting). */
				if ((v & IER_THRI) && !(s->ier & IER_THRI))
					s->iir_thri_pending = 1;
				s->ier = v & 0x0f;
			}
			break;
		case UART_FCR:
			s->fcr = v;
			if (v & 0x02)
				s->rx_count = 0;
			break;
		case UART_LCR:
			s->lcr = v;
			break;
		case UART_MCR:
			s->mcr = v & 0x1f;
			break;
		case UART_SCR:
			s->scr = v;
			break;
		}
	} else {
		uint8_t v = 0xff;
		switch (off) {
		case UART_RBR:
			if (dlab) {
				v = s->dll;
			} else {
				v = 0;
				if (s->rx_count) {
					v = s->rx[s->rx_head];
					s->rx_head = (s->rx_head + 1) % SERIAL_RX_FIFO;
					s->rx_count--;
				}
			}
			break;
		case UART_IER:
			v = dlab ? s->dlm : s->ier;
			break;
		case UART_IIR:
			v = iir(s);
			/* Reading IIR while it reports THRI clears that source. */
			if ((v & 0x0f) == IIR_THRI)
				s->iir_thri_pending = 0;
			break;
		case UART_LCR:
			v = s->lcr;
			break;
		case UART_MCR:
			v = s->mcr;
			break;
		case UART_LSR:
			v = LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
			break;
		case UART_MSR:
			if (s->mcr &
			    MCR_LOOP) /* loopback: MCR's DTR/RTS/OUT1/OUT2 → DSR/CTS/RI/DCD */
				v = (uint8_t)(((s->mcr & 0x02) << 3) | ((s->mcr & 0x01) << 5) |
				              ((s->mcr & 0x04) << 4) | ((s->mcr & 0x08) << 4));
			else
				v = MSR_DCD | MSR_DSR | MSR_CTS;
			break;
		case UART_SCR:
			v = s->scr;
			break;
		}
		data[0] = v;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

unsigned serial_input(struct serial *s, const uint8_t *buf, unsigned len)
{
	unsigned n = 0;
	pthread_mutex_lock(&s->lock);
	while (n < len && s->rx_count < SERIAL_RX_FIFO)
		rx_push(s, buf[n++]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

int serial_init(struct serial *s, struct vm *vm, int out_fd)
{
	memset(s, 0, sizeof(*s));
	s->vm = vm;
	s->out_fd = out_fd;
	s->out_unbuffered = out_fd >= 0 && isatty(out_fd);
	s->mcr = MCR_OUT2;
	pthread_mutex_init(&s->lock, NULL);
	return bus_register(&vm->pio, PORT_COM1, 8, serial_io, s, "serial");
}

void serial_destroy(struct serial *s)
{
	if (!s->vm)
		return;
	serial_flush(s);
	pthread_mutex_destroy(&s->lock);
	s->vm = NULL;
}

/* ---- snapshots (include/snapshot.h) ---- */

void serial_save(struct serial *s, struct serial_state *st)
{
	pthread_mutex_lock(&s->lock);
	*st = (struct serial_state){
	        .ier = s->ier,
	        .iir_thri_pending = s->iir_thri_pending,
	        .lcr = s->lcr,
	        .mcr = s->mcr,
	        .lsr_extra = s->lsr_extra,
	        .msr = s->msr,
	        .scr = s->scr,
	        .dll = s->dll,
	        .dlm = s->dlm,
	        .fcr = s->fcr,
	        .irq_level = (uint8_t)s->irq_level,
	        .rx_head = s->rx_head,
	        .rx_count = s->rx_count,
	};
	memcpy(st->rx, s->rx, sizeof(st->rx));
	pthread_mutex_unlock(&s->lock);
}

/* The interrupt controllers' state (restored with the irqchip before the devices) holds what
 * the saved line level caused, but not the level itself: KVM's per-source line state starts
 * low in the new VM. So the line starts low here too and is raised again if an interrupt is
 * pending: the next rising edge is never lost (with the saved level kept, a pending THRE
 * would never be signalled again and the guest's transmitter would stall until its driver's
 * timeout). At worst the guest sees one interrupt twice, which 8250 drivers tolerate. */
void serial_restore(struct serial *s, const struct serial_state *st)
{
	pthread_mutex_lock(&s->lock);
	s->ier = st->ier & 0x0f;
	s->iir_thri_pending = st->iir_thri_pending & 1;
	s->lcr = st->lcr;
	s->mcr = st->mcr & 0x1f;
	s->lsr_extra = st->lsr_extra;
	s->msr = st->msr;
	s->scr = st->scr;
	s->dll = st->dll;
	s->dlm = st->dlm;
	s->fcr = st->fcr;
	s->irq_level = 0;
	memcpy(s->rx, st->rx, sizeof(s->rx));
	s->rx_head = st->rx_head % SERIAL_RX_FIFO;
	s->rx_count = st->rx_count > SERIAL_RX_FIFO ? SERIAL_RX_FIFO : st->rx_count;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}
