/* devices/rtc.c — MC146818 CMOS RTC, read-only, BCD, 24-hour, from the host's UTC clock.
 * Guests (Linux's mach_get_cmos_time among them) spin while register A's update-in-progress
 * bit is set; an absent device reads 0xff and would hang them. Here UIP is always clear. */
#include <stdbool.h>
#include <stdint.h>
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

/* UTC calendar fields of a time, by arithmetic (the proleptic Gregorian calendar in eras of
 * 400 years, after H. Hinnant's days_from_civil/civil_from_days). Not gmtime_r(): glibc's
 * first call loads the time zone (opens /etc/localtime, parses it, ~0.6 ms here), which a
 * VM paid on its first CMOS read or, before the sandbox forbade that open, up front. */
void rtc_utc(int64_t t, struct tm *tm)
{
	int64_t days = t / 86400, rem = t % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	memset(tm, 0, sizeof(*tm));
	tm->tm_hour = (int)(rem / 3600);
	tm->tm_min = (int)(rem / 60 % 60);
	tm->tm_sec = (int)(rem % 60);
	tm->tm_wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
	int64_t z = days + 719468;                /* days since 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;                                      /* [0, 146096] */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
	int64_t mp = (5 * doy + 2) / 153;                                    /* March = 0 */
	int64_t y = yoe + era * 400 + (mp >= 10);
	tm->tm_mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	tm->tm_mon = (int)(mp < 10 ? mp + 2 : mp - 10);
	tm->tm_year = (int)(y - 1900);
	bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
	static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
	tm->tm_yday = before[tm->tm_mon] + tm->tm_mday - 1 + (leap && tm->tm_mon > 1);
}

static uint8_t rtc_read(struct rtc *r, uint8_t idx)
{
	struct tm tm;
	rtc_utc((int64_t)time(NULL), &tm);
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
