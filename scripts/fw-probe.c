/* fw-probe.c - the smallest firmware that uses the core as a real one does, so `make size`
 * measures what a firmware links (never run). Built twice for Cortex-M4:
 *   -DPROBE_AGENT  the application: the module (AT engine, AT+UPGRADE, settings, NV) and
 *                  the agent (check, HTTP download, staging, image and signature check), fed and polled
 *                  as fotad does (src/fotad/main.c);
 *   -DPROBE_BOOT   the boot code: fota_boot_run with an image-check hook, and
 *                  fota_boot_confirm.
 * Linked with --specs=nano.specs --specs=nosys.specs -Wl,--gc-sections against the
 * -ffunction-sections objects of build/cm4; scripts/size-report reads the map file.
 * The ports (flash, net, hash, signature) are stubs here: a firmware brings its own, and they are
 * not the core's. Their addresses escape through an empty asm, so even an LTO link
 * cannot see through the port calls. */
#include "fota/agent.h"
#include "fota/boot.h"
#include "fota/image.h"
#include "fota/module.h"

/* Opaque to the compiler: p may be read or changed by anything. */
#define ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")

static int stub_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
	(void)ctx, (void)addr, (void)buf, (void)len;
	return 0;
}

static int stub_prog(void *ctx, uint32_t addr, const void *buf, size_t len)
{
	(void)ctx, (void)addr, (void)buf, (void)len;
	return 0;
}

static int stub_erase(void *ctx, uint32_t addr)
{
	(void)ctx, (void)addr;
	return 0;
}

static struct fota_flash flash = {
	NULL, 1u << 20, 4096, 4, 0xFF, stub_read, stub_prog, stub_erase,
};

static int stub_start(void *ctx)
{
	(void)ctx;
	return 0;
}

static int stub_update(void *ctx, const void *data, size_t len)
{
	(void)ctx, (void)data, (void)len;
	return 0;
}

static int stub_finish(void *ctx, uint8_t out[FOTA_SHA256_SIZE])
{
	(void)ctx, (void)out;
	return 0;
}

static struct fota_sha256 sha = { NULL, stub_start, stub_update, stub_finish };

static struct fota_boot_cfg boot;

static int stub_verify(void *ctx, const uint8_t hash[FOTA_SHA256_SIZE],
		       const uint8_t sig[FOTA_SIG_SIZE])
{
	(void)ctx, (void)hash, (void)sig;
	return 0;
}

static struct fota_sig sig = { NULL, stub_verify };

#if defined(PROBE_AGENT)

static int stub_open(void *ctx, const char *host, size_t host_len, uint16_t port, bool tls)
{
	(void)ctx, (void)host, (void)host_len, (void)port, (void)tls;
	return 0;
}

static int stub_ready(void *ctx, int h)
{
	(void)ctx, (void)h;
	return 0;
}

static int stub_send(void *ctx, int h, const void *data, size_t len)
{
	(void)ctx, (void)h, (void)data;
	return (int)len;
}

static int stub_recv(void *ctx, int h, void *buf, size_t cap)
{
	(void)ctx, (void)h, (void)buf, (void)cap;
	return 0;
}

static void stub_close(void *ctx, int h)
{
	(void)ctx, (void)h;
}

static struct fota_net net = { NULL, stub_open, stub_ready, stub_send, stub_recv, stub_close };

static void stub_write(void *ctx, const char *data, size_t len)
{
	(void)ctx, (void)data, (void)len;
}

static void stub_reboot(void *ctx)
{
	(void)ctx;
}

static struct fota_module mod;
static struct fota_agent agent;
static struct fota_module_info info = { "AirM2M", "Air780E", "V1", "861234567890123" };

static int upgrade_hook(struct fota_module *m, void *ctx)
{
	(void)m;
	return fota_agent_start(ctx);
}

int main(void)
{
	/* No extra commands: a module's firmware answers ATI, AT+CFUN... with its own. */
	struct fota_module_config mc = {
		&flash, 0xFE000, 0x2000, &info, stub_write, NULL, upgrade_hook, &agent, NULL, 0,
	};
	struct fota_agent_cfg ac = {
		.module = &mod, .boot = &boot, .sha = &sha, .sig = &sig, .net = &net, .family = "AirM2M_780E",
		.reboot = stub_reboot,
	};
	static char rx[64];
	uint64_t now = 0;

	ESCAPE(&flash);
	ESCAPE(&sha);
	ESCAPE(&sig);
	ESCAPE(&net);
	ESCAPE(&boot);
	ESCAPE(rx);
	fota_module_init(&mod, &mc);
	fota_agent_init(&agent, &ac, now);
	fota_module_ready(&mod);
	fota_module_upgrade_done(&mod, FOTA_OK, true);
	fota_agent_report(&agent);
	for (;;) {
		ESCAPE(&now);
		fota_module_input(&mod, rx, sizeof(rx));
		if (!fota_agent_busy(&agent))
			now += fota_agent_poll(&agent, now);
	}
}

#elif defined(PROBE_BOOT)

/* The boot code checks a staged image's signature, as fotad does. */
static int verify_hook(void *ctx, const struct fota_flash *f, uint32_t addr, uint32_t max_size,
		       uint32_t *image_size, uint32_t *counter)
{
	struct fota_image_info info;
	int err = fota_image_verify_flash_sig(f, addr, max_size, &sha, &sig, &info);

	(void)ctx;
	if (!err) {
		*image_size = info.total_size;
		*counter = info.security_counter;
	}
	return err;
}

static void progress_hook(void *ctx, unsigned percent)
{
	(void)ctx, (void)percent;
}

int main(void)
{
	struct fota_boot_status st;

	boot.flash = &flash;
	boot.verify = verify_hook;
	boot.progress = progress_hook;
	ESCAPE(&flash);
	ESCAPE(&sha);
	ESCAPE(&sig);
	ESCAPE(&boot);
	if (fota_boot_run(&boot, &st) == FOTA_OK && st.did == FOTA_BOOT_DID_TRIAL)
		fota_boot_confirm(&boot);
	for (;;)
		ESCAPE(&st);
}

#else
#error "define PROBE_AGENT or PROBE_BOOT"
#endif
