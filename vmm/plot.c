/* vmm/plot.c — the batch as an SVG timeline: one row per launched instance, one colour per
 * stage (a bar from the previous mark to the stage's own), time on the x axis from the batch
 * request. Hand-written SVG 1.1; no dependency. */
#include <stdio.h>

#include "batch.h"

#define W      960.0
#define LEFT   70.0
#define RIGHT  20.0
#define TOP    36.0
#define LEGEND 60.0

static const char *const colour[ST_COUNT] = {
        "#9e9e9e", "#8c564b", "#e377c2", "#f7b6d2", "#d62728", "#ff7f0e", "#bcbd22",
        "#17becf", "#1f77b4", "#2ca02c", "#98df8a", "#9467bd", "#393b79",
};

static void xml_text(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '&':
			fputs("&amp;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		default:
			if ((unsigned char)*s >= 0x20)
				fputc(*s, out);
		}
	}
}

/* A tick step of 1, 2 or 5 x 10^k ms giving at most ~10 ticks over span_ms. */
static double tick_step(double span_ms)
{
	double raw = span_ms / 10.0, p = 1e-3; /* the power of ten at or below raw */
	while (p * 10 <= raw)
		p *= 10;
	return raw <= p ? p : raw <= 2 * p ? 2 * p : raw <= 5 * p ? 5 * p : 10 * p;
}

void batch_plot_svg(const struct batch_result *b, FILE *out)
{
	unsigned rows = 0;
	uint64_t tmax = b->wall_ns;
	for (unsigned i = 0; i < b->n; i++) {
		const struct batch_record *r = &b->rec[i];
		if (r->outcome == BATCH_NOT_STARTED)
			continue;
		rows++;
		for (int st = 0; st < ST_COUNT; st++)
			if (r->t_ns[st] > tmax)
				tmax = r->t_ns[st];
	}
	if (!tmax)
		tmax = 1;
	double rh = rows ? 600.0 / rows : 14;
	if (rh > 14)
		rh = 14;
	if (rh < 2)
		rh = 2;
	double plot_w = W - LEFT - RIGHT, h = TOP + rows * rh + LEGEND;
	double span_ms = (double)tmax / 1e6, xs = plot_w / span_ms;
	fprintf(out,
	        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
	        "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
	        "font-size=\"11\">\n"
	        "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
	        W, h, W, h);
	fprintf(out, "<text x=\"%.0f\" y=\"20\" font-size=\"14\">fastvmm batch: %u x ", LEFT, b->n);
	xml_text(out, b->kernel ? b->kernel : "?");
	fprintf(out, ", wall %.2f ms%s</text>\n", (double)b->wall_ns / 1e6,
	        b->signal ? " (interrupted)" : "");
	unsigned row = 0;
	for (unsigned i = 0; i < b->n; i++) {
		const struct batch_record *r = &b->rec[i];
		if (r->outcome == BATCH_NOT_STARTED)
			continue;
		double y = TOP + row * rh;
		fprintf(out, "<g class=\"row\" data-id=\"%u\">", i);
		if (rh >= 8)
			fprintf(out, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">vm %u</text>",
			        LEFT - 6, y + rh - 3, i);
		uint64_t prev = 0;
		for (int st = 0; st < ST_COUNT; st++) {
			uint64_t t = r->t_ns[st];
			if (!t || t < prev)
				continue;
			double x0 = LEFT + (double)prev / 1e6 * xs,
			       w = (double)(t - prev) / 1e6 * xs;
			fprintf(out,
			        "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" "
			        "fill=\"%s\"><title>vm %u %s %.3f ms</title></rect>",
			        x0, y + 1, w < 0.5 ? 0.5 : w, rh - 2 > 1 ? rh - 2 : 1, colour[st],
			        i, vm_stage_names[st], (double)t / 1e6);
			prev = t;
		}
		if (!batch_record_ok(r))
			fprintf(out, "<text x=\"%.2f\" y=\"%.1f\" fill=\"#d62728\"> %s</text>",
			        LEFT + (double)prev / 1e6 * xs + 2, y + rh - 3,
			        batch_outcome_name(r->outcome));
		fputs("</g>\n", out);
		row++;
	}
	/* x axis */
	double ay = TOP + rows * rh + 4;
	fprintf(out, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"black\"/>\n",
	        LEFT, ay, LEFT + plot_w, ay);
	double step = tick_step(span_ms);
	for (double t = 0; t <= span_ms * 1.0001; t += step) {
		double x = LEFT + t * xs;
		fprintf(out,
		        "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"black\"/>"
		        "<text x=\"%.2f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
		        x, ay, x, ay + 4, x, ay + 15, t);
	}
	fprintf(out, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">ms from the request</text>\n",
	        LEFT + plot_w, ay + 28);
	/* legend */
	double ly = ay + 40, lx = LEFT;
	for (int st = 0; st < ST_COUNT; st++) {
		fprintf(out,
		        "<rect x=\"%.0f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>"
		        "<text x=\"%.0f\" y=\"%.1f\">%s</text>\n",
		        lx, ly, colour[st], lx + 13, ly + 9, vm_stage_names[st]);
		lx += 73;
	}
	fputs("</svg>\n", out);
}
