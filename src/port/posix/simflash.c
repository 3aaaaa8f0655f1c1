/* simflash.c - emulated NOR flash for fotad and the tests (see fota/simflash.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fota/simflash.h"

/* True when the operation about to start must be cut; counts it either way. */
static bool cut_now(struct fota_simflash *sf)
{
	if (sf->dead)
		return true;
	sf->ops++;
	if (sf->cut_at && sf->ops == sf->cut_at) {
		sf->dead = true;
		return true;
	}
	return false;
}

static int sim_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
	struct fota_simflash *sf = ctx;

	if (sf->dead)
		return FOTA_ERR_POWER;
	if (addr > sf->flash.size || len > sf->flash.size - addr)
		return FOTA_ERR_INVAL;
	memcpy(buf, sf->mem + addr, len);
	sf->stats.reads++;
	return FOTA_OK;
}

static int sim_prog(void *ctx, uint32_t addr, const void *buf, size_t len)
{
	struct fota_simflash *sf = ctx;
	const uint8_t *src = buf;
	uint8_t *dst = sf->mem + addr;

	if (addr > sf->flash.size || len > sf->flash.size - addr ||
	    addr % sf->flash.prog_size || len % sf->flash.prog_size)
		return FOTA_ERR_INVAL;
	if (cut_now(sf)) {
		if (sf->cut_kind == FOTA_CUT_TORN && sf->ops == sf->cut_at) {
			/* Half the bytes reach the cells; a torn program still only clears bits. */
			for (size_t i = 0; i < (len + 1) / 2; i++)
				dst[i] &= src[i];
		}
		return FOTA_ERR_POWER;
	}
	for (size_t i = 0; i < len; i++) {
		if ((dst[i] & src[i]) != src[i]) {
			sf->stats.rule_violations++;
			return FOTA_ERR_FLASH_RULE;
		}
	}
	for (size_t i = 0; i < len; i++)
		dst[i] = src[i];
	sf->stats.progs++;
	return FOTA_OK;
}

static int sim_erase(void *ctx, uint32_t addr)
{
	struct fota_simflash *sf = ctx;
	uint32_t ss = sf->flash.sector_size;

	if (addr >= sf->flash.size || addr % ss)
		return FOTA_ERR_INVAL;
	if (cut_now(sf)) {
		if (sf->cut_kind == FOTA_CUT_TORN && sf->ops == sf->cut_at) {
			/* A partly done erase: the first half of the sector is erased, the rest
			 * keeps its old bytes, and the cells in between hold noise. */
			memset(sf->mem + addr, 0xFF, ss / 2);
			sf->mem[addr + ss / 2] ^= 0x5A;
		}
		return FOTA_ERR_POWER;
	}
	memset(sf->mem + addr, 0xFF, ss);
	sf->stats.erases++;
	if (sf->stats.erase_count)
		sf->stats.erase_count[addr / ss]++;
	return FOTA_OK;
}

static int setup(struct fota_simflash *sf, uint8_t *mem, uint32_t size, uint32_t sector_size,
		 uint32_t prog_size, int fd)
{
	memset(sf, 0, sizeof(*sf));
	sf->mem = mem;
	sf->fd = fd;
	sf->flash = (struct fota_flash){
		.ctx = sf,
		.size = size,
		.sector_size = sector_size,
		.prog_size = prog_size,
		.erased = 0xFF,
		.read = sim_read,
		.prog = sim_prog,
		.erase = sim_erase,
	};
	if (!fota_flash_valid(&sf->flash))
		return FOTA_ERR_INVAL;
	sf->stats.erase_count = calloc(size / sector_size, sizeof(uint32_t));
	return sf->stats.erase_count ? FOTA_OK : FOTA_ERR_NOMEM;
}

int fota_simflash_init_mem(struct fota_simflash *sf, uint8_t *mem, uint32_t size,
			   uint32_t sector_size, uint32_t prog_size)
{
	return setup(sf, mem, size, sector_size, prog_size, -1);
}

int fota_simflash_open_file(struct fota_simflash *sf, const char *path, uint32_t size,
			    uint32_t sector_size, uint32_t prog_size)
{
	struct stat st;
	uint8_t *mem = MAP_FAILED;
	bool fresh;
	int fd, err;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return FOTA_ERR_IO;
	if (fstat(fd, &st) < 0) {
		err = FOTA_ERR_IO;
		goto fail;
	}
	fresh = st.st_size == 0;
	if (!fresh && (uint64_t)st.st_size != size) {
		errno = EINVAL;
		err = FOTA_ERR_INVAL;
		goto fail;
	}
	if (fresh && ftruncate(fd, size) < 0) {
		err = FOTA_ERR_IO;
		goto fail;
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		err = FOTA_ERR_IO;
		goto fail;
	}
	err = setup(sf, mem, size, sector_size, prog_size, fd);
	if (err)
		goto fail;
	if (fresh)
		fota_simflash_format(sf);
	return FOTA_OK;

fail:
	if (mem != MAP_FAILED)
		munmap(mem, size);
	close(fd);
	return err;
}

void fota_simflash_close(struct fota_simflash *sf)
{
	if (sf->fd >= 0) {
		msync(sf->mem, sf->flash.size, MS_SYNC);
		munmap(sf->mem, sf->flash.size);
		close(sf->fd);
		sf->fd = -1;
	}
	free(sf->stats.erase_count);
	sf->stats.erase_count = NULL;
}

void fota_simflash_format(struct fota_simflash *sf)
{
	memset(sf->mem, 0xFF, sf->flash.size);
	if (sf->stats.erase_count)
		memset(sf->stats.erase_count, 0, sf->flash.size / sf->flash.sector_size * sizeof(uint32_t));
}

void fota_simflash_cut_power(struct fota_simflash *sf, uint32_t n, enum fota_simflash_cut kind)
{
	sf->ops = 0;
	sf->cut_at = n;
	sf->cut_kind = kind;
}

void fota_simflash_power_on(struct fota_simflash *sf)
{
	sf->dead = false;
	sf->ops = 0;
	sf->cut_at = 0;
}
