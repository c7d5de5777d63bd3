/* vmm/report.c — one VM's outcome and stage timings, as JSON or as a compact table. */
#include <stdio.h>

#include "vmm.h"

void json_put_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void report_vm_json(const struct vm *vm, FILE *out)
{
	fprintf(out, "{\"id\":%u,\"ok\":%s,\"exit_status\":%d,\"outcome\":", vm->id,
	        vm_exit_status(vm) == 0 ? "true" : "false", vm_exit_status(vm));
	json_put_string(out, vm_outcome_name(vm->outcome));
	fprintf(out, ",\"exit_code\":%d,\"reason\":", vm->exit_code);
	json_put_string(out, vm->reason);
	fprintf(out, ",\"kernel\":");
	json_put_string(out, vm->kernel ? vm->kernel->name : "");
	fprintf(out, ",\"format\":");
	json_put_string(out, vm->kernel ? kernel_format_name(vm->kernel->fmt) : "");
	/* t0_ns: the launch request on CLOCK_MONOTONIC, so that a caller can time from its own
	 * spawn (exec → first KVM_RUN). */
	fprintf(out, ",\"irqchip\":\"%s\",\"exits\":%llu,\"t0_ns\":%llu,\"cpuid_cached\":%s",
	        irqchip_name(vm->irqchip), (unsigned long long)atomic_load(&vm->exits),
	        (unsigned long long)vm->t0, vm->cpuid_cached ? "true" : "false");
	if (vm->irqchip == IRQCHIP_SPLIT)
		fprintf(out, ",\"ioapic\":{\"msis\":%llu,\"eois\":%llu,\"route_updates\":%llu}",
		        (unsigned long long)vm->ioapic.msis, (unsigned long long)vm->ioapic.eois,
		        (unsigned long long)vm->ioapic.route_updates);
	fprintf(out, ",\"failed_stage\":");
	if (vm->failed_stage >= 0)
		json_put_string(out, vm_stage_names[vm->failed_stage]);
	else
		fputs("null", out);
	fprintf(out, ",\"console_bytes\":%llu,\"stages\":{",
	        (unsigned long long)vm->serial.bytes_out);
	for (int i = 0; i < ST_COUNT; i++) {
		uint64_t t = atomic_load(&vm->t_ns[i]);
		fprintf(out, "%s\"%s\":", i ? "," : "", vm_stage_names[i]);
		if (t)
			fprintf(out, "%.1f", (double)t / 1000.0);
		else
			fputs("null", out);
	}
	fputs("}}", out);
}

void report_vm_text(const struct vm *vm, FILE *out)
{
	fprintf(out, "%-13s %10s\n", "stage", "at (ms)");
	for (int i = 0; i < ST_COUNT; i++) {
		uint64_t t = atomic_load(&vm->t_ns[i]);
		if (t)
			fprintf(out, "%-13s %10.3f\n", vm_stage_names[i], (double)t / 1e6);
		else
			fprintf(out, "%-13s %10s\n", vm_stage_names[i], "-");
	}
	fprintf(out, "outcome       %s (exit status %d)%s%s\n", vm_outcome_name(vm->outcome),
	        vm_exit_status(vm), vm->reason[0] ? ": " : "", vm->reason);
}
