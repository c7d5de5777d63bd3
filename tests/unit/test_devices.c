/* Unit tests: the legacy devices as a guest driver sees them through the port bus — the
 * 16550 UART (Linux 8250 probing: scratch, IER, loopback; THRI; input), the CMOS RTC, the
 * i8042 reset and the guest ABI ports. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "layout.h"
#include "vmm.h"

static struct vm vm;
static int pipefd[2];

static int setup(void **state)
{
	(void)state;
	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = vm.kvm_fd = -1; /* IRQ line updates fail harmlessly without a VM */
	vm.t0 = now_ns();
	vm.failed_stage = -1;
	pthread_mutex_init(&vm.stop_lock, NULL);
	bus_init(&vm.pio);
	if (pipe2(pipefd, O_NONBLOCK) < 0)
		return -1;
	if (serial_init(&vm.serial, &vm, pipefd[1]) || rtc_init(&vm.rtc, &vm) ||
	    i8042_init(&vm.i8042, &vm) || boot_timer_init(&vm) || exit_port_init(&vm))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	serial_destroy(&vm.serial);
	bus_free(&vm.pio);
	close(pipefd[0]);
	close(pipefd[1]);
	pthread_mutex_destroy(&vm.stop_lock);
	return 0;
}

static void out8(uint16_t port, uint8_t v)
{
	assert_true(bus_access(&vm.pio, port, &v, 1, true));
}

static uint8_t in8(uint16_t port)
{
	uint8_t v = 0;
	bus_access(&vm.pio, port, &v, 1, false);
	return v;
}

static void uart_output_and_probe(void **state)
{
	(void)state;
	const uint16_t com = PORT_COM1;
	/* Linux 8250 autoconfig: scratch register, IER write/read-back. */
	out8(com + 7, 0xa5);
	assert_int_equal(in8(com + 7), 0xa5);
	out8(com + 1, 0x0f);
	assert_int_equal(in8(com + 1), 0x0f);
	out8(com + 1, 0);
	/* Divisor latch behind DLAB. */
	out8(com + 3, 0x80);
	out8(com + 0, 0x01);
	out8(com + 1, 0x00);
	assert_int_equal(in8(com + 0), 0x01);
	out8(com + 3, 0x03); /* 8N1, DLAB off */
	assert_int_equal(in8(com + 3), 0x03);
	/* Loopback: MCR bits show up in MSR (DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD). */
	out8(com + 4, 0x10 | 0x0a); /* LOOP | RTS | OUT2 */
	assert_int_equal(in8(com + 6) & 0xf0, 0x90);
	out8(com + 0, 'L'); /* looped back, not printed */
	assert_int_equal(in8(com + 5) & 1, 1);
	assert_int_equal(in8(com + 0), 'L');
	out8(com + 4, 0x0b);
	/* Transmitter always empty; output goes to the console fd, line at a time. */
	assert_int_equal(in8(com + 5) & 0x60, 0x60);
	const char *msg = "hi\n";
	for (const char *p = msg; *p; p++)
		out8(com, (uint8_t)*p);
	char buf[16] = {0};
	assert_int_equal(read(pipefd[0], buf, sizeof(buf)), 3);
	assert_string_equal(buf, "hi\n");
	assert_int_equal(vm.serial.bytes_out, 3);
	assert_int_not_equal(vm.t_ns[ST_FIRST_OUTPUT], 0);
	/* Partial lines are held until a newline or a flush. */
	out8(com, 'x');
	assert_int_equal(read(pipefd[0], buf, sizeof(buf)), -1);
	serial_flush(&vm.serial);
	assert_int_equal(read(pipefd[0], buf, sizeof(buf)), 1);
}

static void uart_interrupts_and_input(void **state)
{
	(void)state;
	const uint16_t com = PORT_COM1;
	assert_int_equal(in8(com + 2) & 0x0f, 0x01); /* nothing pending */
	out8(com + 1, 0x02);                         /* enable THRI: THR is empty → pending */
	assert_int_equal(in8(com + 2) & 0x0f, 0x02);
	assert_int_equal(in8(com + 2) & 0x0f, 0x01); /* reading IIR cleared it */
	out8(com, 'a');                              /* transmit → THR empty again */
	assert_int_equal(in8(com + 2) & 0x0f, 0x02);
	out8(com + 1, 0x01); /* RX interrupt only */
	assert_int_equal(serial_input(&vm.serial, (const uint8_t *)"ok", 2), 2);
	assert_int_equal(in8(com + 2) & 0x0f, 0x04);
	assert_int_equal(in8(com + 5) & 1, 1);
	assert_int_equal(in8(com), 'o');
	assert_int_equal(in8(com), 'k');
	assert_int_equal(in8(com + 5) & 1, 0);
	assert_int_equal(in8(com + 2) & 0x0f, 0x01);
	/* The FIFO holds 64 bytes; the rest is refused, never overrun. */
	uint8_t lots[100];
	memset(lots, 'z', sizeof(lots));
	assert_int_equal(serial_input(&vm.serial, lots, sizeof(lots)), SERIAL_RX_FIFO);
	out8(com + 2, 0x03); /* FIFO enable + clear RX */
	assert_int_equal(in8(com + 5) & 1, 0);
	/* Wider accesses are not UART accesses: all-ones, no effect. */
	uint8_t w[4];
	bus_access(&vm.pio, com, w, 4, false);
	assert_int_equal(w[0], 0xff);
}

static uint8_t cmos(uint8_t reg)
{
	out8(PORT_CMOS_INDEX, reg);
	return in8(PORT_CMOS_DATA);
}

static void rtc(void **state)
{
	(void)state;
	assert_int_equal(cmos(0x0a) & 0x80, 0); /* update-in-progress never set */
	assert_int_equal(cmos(0x0b) & 0x06, 0x02);
	uint8_t sec = cmos(0x00), mon = cmos(0x08), cent = cmos(0x32);
	assert_true((sec & 0x0f) <= 9 && (sec >> 4) <= 5); /* BCD */
	assert_true(mon >= 0x01 && mon <= 0x12);
	assert_int_equal(cent, 0x20);
	out8(PORT_CMOS_INDEX, 0x40);
	out8(PORT_CMOS_DATA, 0x99);
	assert_int_equal(cmos(0x40), 0x99); /* plain CMOS RAM */
	out8(PORT_CMOS_INDEX, 0x00);
	out8(PORT_CMOS_DATA, 0x99);
	assert_true(cmos(0x00) <= 0x59);    /* the clock is read-only */
	out8(PORT_CMOS_INDEX, 0x80 | 0x0a); /* NMI-disable bit ignored */
	assert_int_equal(in8(PORT_CMOS_DATA) & 0x80, 0);
}

/* rtc_utc() against glibc's gmtime_r() across four centuries of leap rules (1900 and 2100
 * are not leap years, 2000 is), the epoch, negative times, and a day's edges. */
static void rtc_utc_matches_gmtime(void **state)
{
	(void)state;
	static const int64_t fixed[] = {0,          -1,          86399,       86400,
	                                951782400,  951868799,   951868800,   4107542400,
	                                4107628800, -2208988800, -2203891200, 2147483647,
	                                2147483648, 253402300799};
	uint64_t x = 88172645463325252ull;
	for (unsigned i = 0; i < 200000 + ARRAY_SIZE(fixed); i++) {
		int64_t t;
		if (i < ARRAY_SIZE(fixed)) {
			t = fixed[i];
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			t = (int64_t)(x % 13000000000ull) - 3000000000ll; /* ~1875 to ~2281 */
		}
		time_t tt = (time_t)t;
		struct tm want, got;
		assert_non_null(gmtime_r(&tt, &want));
		rtc_utc(t, &got);
		if (got.tm_year != want.tm_year || got.tm_mon != want.tm_mon ||
		    got.tm_mday != want.tm_mday || got.tm_hour != want.tm_hour ||
		    got.tm_min != want.tm_min || got.tm_sec != want.tm_sec ||
		    got.tm_wday != want.tm_wday || got.tm_yday != want.tm_yday)
			fail_msg("t=%lld: %d-%d-%d %d:%d:%d wday %d yday %d, gmtime says "
			         "%d-%d-%d %d:%d:%d wday %d yday %d",
			         (long long)t, got.tm_year, got.tm_mon, got.tm_mday, got.tm_hour,
			         got.tm_min, got.tm_sec, got.tm_wday, got.tm_yday, want.tm_year,
			         want.tm_mon, want.tm_mday, want.tm_hour, want.tm_min, want.tm_sec,
			         want.tm_wday, want.tm_yday);
	}
}

static void guest_ports_and_reset(void **state)
{
	(void)state;
	assert_int_equal(vm.t_ns[ST_READY], 0);
	out8(PORT_BOOT_TIMER, 1);
	assert_int_not_equal(vm.t_ns[ST_READY], 0);
	uint64_t first = vm.t_ns[ST_READY];
	out8(PORT_BOOT_TIMER, 1);
	assert_int_equal(vm.t_ns[ST_READY], first);      /* the first write counts */
	assert_int_equal(in8(PORT_I8042_CMD) & 0x02, 0); /* input buffer empty */
	out8(PORT_I8042_CMD, 0xfe);
	assert_true(vm.stopping);
	assert_int_equal(vm.outcome, VM_SHUTDOWN);
	assert_int_equal(vm_exit_status(&vm), 0);
	/* After a stop, later events do not overwrite the outcome. */
	uint8_t code[4] = {7, 1, 0, 0};
	bus_access(&vm.pio, PORT_EXIT, code, 2, true);
	assert_int_equal(vm.outcome, VM_SHUTDOWN);
	vm.stopping = false;
	bus_access(&vm.pio, PORT_EXIT, code, 2, true);
	assert_int_equal(vm.outcome, VM_EXITED);
	assert_int_equal(vm_exit_status(&vm), 7);
	/* Unclaimed ports read all-ones. */
	assert_int_equal(in8(0x2f8), 0xff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(uart_output_and_probe),
	        cmocka_unit_test(uart_interrupts_and_input),
	        cmocka_unit_test(rtc),
	        cmocka_unit_test(rtc_utc_matches_gmtime),
	        cmocka_unit_test(guest_ports_and_reset),
	};
	return cmocka_run_group_tests_name("devices", tests, setup, teardown);
}
