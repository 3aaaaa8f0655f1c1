/* ram-probe.c - one object of each of the core's state structures, so `make size` can
 * print what each costs in RAM on the target (arm-none-eabi-nm -S). Never linked. The
 * arrays only carry sizes: the parts of the structures the report names. */
#include "fota/agent.h"
#include "fota/boot.h"

struct fota_module ram_module;           /* AT engine, settings, NV, status */
struct fota_agent ram_agent;             /* check, download, HTTP client, staging */
struct fota_boot_cfg ram_boot_cfg;       /* the install's configuration */
struct fota_http_parser ram_http_parser; /* (inside the agent) */
struct fota_stage ram_stage;             /* (inside the agent) */
char ram_agent_io[sizeof(ram_agent.io)]; /* (inside the agent) */
char ram_at_line[sizeof(ram_module.at.line)]; /* (inside the module) */
