/* devices/rtc.c — MC146818 CMOS RTC, read-only, BCD, 24-hour, from the host's UTC clock.
 * Guests (Linux's mach_get_cmos_time among them) spin while register A's update-in-progress
 * bit is set; an absent device reads 0xff and would hang them. Here UIP is always clear. */
#include <string.h>
#include <time.h>

#include "layout.h"
#include "snapshot.h"
#include "vmm.h"

#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS   0x04
#define RTC_WDAY    0x06
#define RTC_MDAY    0x07
#define RTC_MONTH   0x08
#define RTC_YEAR    0x09
#define RTC_REG_A   0x0a
#define RTC_REG_B   0x0b
#define RTC_REG_C   0x0c
#define RTC_REG_D   0x0d
#define RTC_CENTURY 0x32

static uint8_t bcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t rtc_read(struct rtc *r, uint8_t idx)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	switch (idx) {
	case RTC_SECONDS:
		return bcd(tm.tm_sec);
	case RTC_MINUTES:
		return bcd(tm.tm_min);
	case RTC_HOURS:
		return bcd(tm.tm_hour);
	case RTC_WDAY:
		return bcd(tm.tm_wday + 1);
	case RTC_MDAY:
		return bcd(tm.tm_mday);
	case RTC_MONTH:
		return bcd(tm.tm_mon + 1);
	case RTC_YEAR:
		return bcd(tm.tm_year % 100);
	case RTC_CENTURY:
		return bcd(19 + tm.tm_year / 100);
	case RTC_REG_A:
		return 0x26; /* 32.768 kHz base, 1024 Hz rate, UIP clear */
	case RTC_REG_B:
		return 0x02; /* 24-hour, BCD, no interrupts */
	case RTC_REG_C:
		return 0x00;
	case RTC_REG_D:
		return 0x80; /* valid RAM and time */
	default:
		return r->ram[idx & 0x7f];
	}
}

static void rtc_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool wr)
{
	struct rtc *r = opaque;
	if (len != 1)
		return;
	if (off == 0) {
		if (wr)
			r->index = data[0] & 0x7f; /* bit 7 is the NMI mask */
		else
			data[0] = r->index;
		return;
	}
	if (wr) {
		/* Clock and control registers are read-only; the rest is plain CMOS RAM. */
		if (r->index > RTC_REG_D && r->index != RTC_CENTURY)
			r->ram[r->index] = data[0];
	} else {
		data[0] = rtc_read(r, r->index);
	}
}

int rtc_init(struct rtc *r, struct vm *vm)
{
	memset(r, 0, sizeof(*r));
	return bus_register(&vm->pio, PORT_CMOS_INDEX, 2, rtc_io, r, "rtc");
}

/* ---- snapshots (include/snapshot.h): the clock itself is the host's, never saved ---- */

void rtc_save(const struct rtc *r, struct rtc_state *st)
{
	st->index = r->index;
	memcpy(st->ram, r->ram, sizeof(st->ram));
}

void rtc_restore(struct rtc *r, const struct rtc_state *st)
{
	r->index = st->index & 0x7f;
	memcpy(r->ram, st->ram, sizeof(r->ram));
}
