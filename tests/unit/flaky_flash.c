/* flaky_flash.c - a flash port whose reads of an address range fail (see flaky_flash.h). */
#include "flaky_flash.h"

static int ff_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
	struct flaky_flash *f = ctx;

	if (addr < f->hi && addr + len > f->lo) {
		f->failed++;
		return f->err;
	}
	return f->real->read(f->real->ctx, addr, buf, len);
}

static int ff_prog(void *ctx, uint32_t addr, const void *buf, size_t len)
{
	struct flaky_flash *f = ctx;

	return f->real->prog(f->real->ctx, addr, buf, len);
}

static int ff_erase(void *ctx, uint32_t addr)
{
	struct flaky_flash *f = ctx;

	return f->real->erase(f->real->ctx, addr);
}

void flaky_flash_init(struct flaky_flash *f, const struct fota_flash *real, uint32_t lo,
		      uint32_t hi, int err)
{
	f->port = *real;
	f->port.ctx = f;
	f->port.read = ff_read;
	f->port.prog = ff_prog;
	f->port.erase = ff_erase;
	f->real = real;
	f->lo = lo;
	f->hi = hi;
	f->err = err;
	f->failed = 0;
}
