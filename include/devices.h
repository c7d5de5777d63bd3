/* include/devices.h — the legacy devices every VM has. One .c file each under devices/.
 * All state lives in struct vm (no globals): batch mode runs many VMs. Handlers run on the
 * vCPU thread that took the exit, so devices shared by several vCPUs take their own lock. */
#ifndef FASTVMM_DEVICES_H
#define FASTVMM_DEVICES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;

/* 16550A UART (COM1). Transmit is instantaneous: LSR always reports THR and TSR empty. */
#define SERIAL_RX_FIFO 64
#define SERIAL_OUTBUF  4096
struct serial {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t ier, iir_thri_pending, lcr, mcr, lsr_extra, msr, scr, dll, dlm, fcr;
	uint8_t rx[SERIAL_RX_FIFO];
	unsigned rx_head, rx_count;
	int irq_level;
	int out_fd;          /* console destination */
	bool out_unbuffered; /* write every byte at once (a tty) */
	char outbuf[SERIAL_OUTBUF];
	unsigned outlen;
	uint64_t bytes_out;
	/* Called (under lock) for each output byte; batch mode watches for --ready here. */
	void (*on_byte)(struct vm *vm, uint8_t c);
};
int serial_init(struct serial *s, struct vm *vm, int out_fd);
/* Queue input bytes from the host (stdin); returns how many were accepted. */
unsigned serial_input(struct serial *s, const uint8_t *buf, unsigned len);
void serial_flush(struct serial *s);
void serial_destroy(struct serial *s);

/* MC146818 CMOS RTC, read-only clock from the host's time; enough that guests polling the
 * update-in-progress bit never wait forever. */
struct rtc {
	uint8_t index;
	uint8_t ram[128];
};
int rtc_init(struct rtc *r, struct vm *vm);
/* The UTC calendar fields of t (seconds since the epoch), as gmtime_r() gives them (tm_isdst
 * 0), with no time zone to load. */
struct tm;
void rtc_utc(int64_t t, struct tm *tm);

/* i8042 keyboard controller: only what guests use to reset (0xfe to port 0x64). */
struct i8042 {
	uint8_t cmd, outport;
};
int i8042_init(struct i8042 *k, struct vm *vm);

/* fastvmm guest ABI ports: boot timer (ready) and exit code. */
int boot_timer_init(struct vm *vm);
int exit_port_init(struct vm *vm);

#endif
