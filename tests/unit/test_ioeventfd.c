/* Unit test on /dev/kvm: when the I/O thread cannot take a queue's ioeventfd, the transport
 * falls back to QueueNotify by MMIO exit AND takes the ioeventfd back from KVM; left
 * assigned, KVM would turn every notify into a write to an eventfd nobody reads (issue 12). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "cc.h"
#include "layout.h"
#include "virtio.h"
#include "vmm.h"

static void nothing(struct virtio_mmio *dev, unsigned q)
{
	(void)dev;
	(void)q;
}

static const struct virtio_dev_ops ops = {
        .name = "test", .device_id = 2, .nqueues = 1, .notify = nothing};

static void failed_add_deassigns(void **state)
{
	(void)state;
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		skip();
	static struct vm vm;
	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
	assert_true(vm.vm_fd >= 0);
	bus_init(&vm.mmio);
	static uint8_t ram[1 << 16];
	struct guest_mem gm;
	gm_init_buffer(&gm, ram, sizeof(ram));
	struct iothread io;
	assert_int_equal(iothread_init(&io), 0);
	io.nh = ARRAY_SIZE(io.h); /* full: iothread_add() fails with ENOSPC */
	static struct virtio_mmio dev;
	virtio_mmio_init(&dev, &ops, NULL, &gm, 0, 0);
	uint64_t base = VIRTIO_MMIO_BASE;
	assert_int_equal(virtio_mmio_attach(&dev, &vm, &io, base, 5), 0);
	assert_int_equal(dev.ioeventfd[0], -1); /* notify by MMIO exit */
	/* The same match again: KVM refuses a duplicate with EEXIST if the first is still on. */
	int fd = eventfd(0, EFD_CLOEXEC);
	struct kvm_ioeventfd ioe = {.datamatch = 0,
	                            .addr = base + VIRTIO_MMIO_QUEUE_NOTIFY,
	                            .len = 4,
	                            .fd = fd,
	                            .flags = KVM_IOEVENTFD_FLAG_DATAMATCH};
	if (ioctl(vm.vm_fd, KVM_IOEVENTFD, &ioe) < 0)
		fail_msg("the failed queue's ioeventfd is still assigned: %s", strerror(errno));
	close(fd);
	io.nh = 0;
	iothread_stop(&io);
	virtio_mmio_detach(&dev, &vm);
	bus_free(&vm.mmio);
	close(vm.vm_fd);
	close(kvm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(failed_add_deassigns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
