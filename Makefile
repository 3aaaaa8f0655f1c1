# openfota - build of libfota, the POSIX port, fotad, the tests and the Cortex-M size report.
# `make` builds; `make test` and `make demo` are the README's commands (they install the
# Debian packages the project needs first). `make help` lists the targets.

BUILD    ?= build
CC       ?= cc
AR       ?= ar
ARM_CC   ?= arm-none-eabi-gcc
ARM_SIZE ?= arm-none-eabi-size
PYTHON   ?= /usr/bin/python3

WARN := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wpointer-arith \
        -Wcast-align -Wwrite-strings -Wundef -Wformat=2 -Wvla
ifneq ($(filter 1 true,$(WERROR) $(CI)),)
WARN += -Werror
endif

OPT      ?= -O2 -g
# `make V=1` shows the whole command lines.
Q := $(if $(filter 1,$(V)),,@)
say = $(if $(Q),@echo "  $(1)	$(2)")
CPPFLAGS += -Iinclude -MMD -MP
# The core also gets -Wconversion: it runs on 16/32-bit targets where silent narrowing bites.
CORE_WARN := $(WARN) -Wconversion -Wno-sign-conversion
CORE_CFLAGS := -std=c99 -pedantic $(CORE_WARN) $(OPT)
PROG_CFLAGS := -std=c11 $(WARN) $(OPT)
LDLIBS   := -lmbedtls -lmbedx509 -lmbedcrypto -lanl

ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CORE_CFLAGS += $(SANFLAGS)
PROG_CFLAGS += $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
endif

CORE_SRC := $(wildcard src/core/*.c)
PORT_SRC := $(wildcard src/port/posix/*.c)
FOTAD_SRC := $(wildcard src/fotad/*.c)
TOOL_SRC := $(wildcard src/tool/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_HELPERS := $(filter-out tests/unit/test_%,$(wildcard tests/unit/*.c))
# fota-server (C11): its objects, less main.o for its unit tests (tests/server, cmocka).
SERVER_SRC := $(wildcard src/server/*.c)
SERVER_TEST_SRC := $(wildcard tests/server/test_server_*.c)
SERVER_LIBS := -lmicrohttpd -lsqlite3 -ljansson -lmbedcrypto

CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
PORT_OBJ := $(PORT_SRC:%.c=$(BUILD)/obj/%.o)
FOTAD_OBJ := $(FOTAD_SRC:%.c=$(BUILD)/obj/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/obj/%.o)
HELPER_OBJ := $(UNIT_HELPERS:%.c=$(BUILD)/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/obj/%.o)
SERVER_LIB_OBJ := $(filter-out %/main.o,$(SERVER_OBJ))
SERVER_TEST_BIN := $(SERVER_TEST_SRC:tests/server/%.c=$(BUILD)/tests/%)

LIBFOTA := $(BUILD)/lib/libfota.a
LIBPORT := $(BUILD)/lib/libfota-posix.a

.PHONY: all lib unit test check demo size cortex-m deps clean help
.SECONDARY:
all: lib $(BUILD)/bin/fotad $(BUILD)/bin/fota $(BUILD)/bin/fota-server
lib: $(LIBFOTA) $(LIBPORT)
unit: $(UNIT_BIN) $(SERVER_TEST_BIN)

$(BUILD)/obj/src/core/%.o: src/core/%.c
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(CORE_CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(PROG_CFLAGS) -c $< -o $@

$(LIBFOTA): $(CORE_OBJ)
	@mkdir -p $(@D)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(LIBPORT): $(PORT_OBJ)
	@mkdir -p $(@D)
	$(call say,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(BUILD)/bin/fotad: $(FOTAD_OBJ) $(LIBPORT) $(LIBFOTA)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# fota: the host tool (pack, info), C11 like fotad.
$(BUILD)/bin/fota: $(TOOL_OBJ) $(LIBPORT) $(LIBFOTA)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(HELPER_OBJ) $(LIBPORT) $(LIBFOTA)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

# fota-server: the upgrade server (docs/server.md); libfota-posix for SHA-256 (mbedTLS).
$(BUILD)/bin/fota-server: $(SERVER_OBJ) $(LIBPORT) $(LIBFOTA)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(SERVER_LIBS) -o $@

$(BUILD)/obj/tests/server/%.o: CPPFLAGS += -Isrc/server
$(BUILD)/tests/test_server_%: $(BUILD)/obj/tests/server/test_server_%.o $(SERVER_LIB_OBJ) \
		$(LIBPORT) $(LIBFOTA)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(SERVER_LIBS) -lcmocka -o $@

# --- the README's commands ---------------------------------------------------------
deps:
	@scripts/install-deps

# check: everything the tests need, built, without installing anything.
check: all unit cortex-m size-check
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 unit all

test: deps
	@$(MAKE) --no-print-directory check
	@tests/run $(BUILD) build/asan

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo

# bench: every benchmark under bench/ (figures side by side, never a pass/fail on time).
.PHONY: bench
bench: deps
	@$(MAKE) --no-print-directory all
	@for b in bench/*.sh bench/*.py; do [ -x "$$b" ] || continue; \
		echo "== $$b"; "$$b" $(BUILD) || exit 1; done

# fuzz: every libFuzzer target of fuzz/ for FUZZ_SECONDS each (fuzz/README.md);
# coverage: line coverage of the core by the unit tests (tests/coverage.sh).
.PHONY: fuzz coverage
fuzz:
	@scripts/install-deps fuzz
	@$(MAKE) --no-print-directory -f fuzz/Makefile run

coverage:
	@scripts/install-deps fuzz
	@tests/coverage.sh

# --- the portable core for Cortex-M4: builds with no OS headers; what a firmware links ---
# `make size` links two probe firmwares (scripts/fw-probe.c: the agent with the module, and
# the boot code) with --gc-sections against these objects, prints the core's text per
# module (libc and the probe apart), the RAM of the state structures and the deepest stack
# path (-fcallgraph-info), and fails when a budget below is exceeded. docs/footprint.md.
CM4_ARCH := -mcpu=cortex-m4 -mthumb
CM4_FLAGS := $(CM4_ARCH) -Os -std=c99 -pedantic $(CORE_WARN) -ffreestanding \
             -ffunction-sections -fdata-sections
CM4_LDFLAGS := $(CM4_ARCH) --specs=nano.specs --specs=nosys.specs -Wl,--gc-sections
CM4_OBJ := $(CORE_SRC:src/core/%.c=$(BUILD)/cm4/%.o)
CM4_LTO_OBJ := $(CORE_SRC:src/core/%.c=$(BUILD)/cm4-lto/%.o)
CM4_PROBES := agent boot
CM4_PROBE_OBJ := $(CM4_PROBES:%=$(BUILD)/cm4/probe/fw-%.o)
CM4_PLAIN_ELF := $(CM4_PROBES:%=$(BUILD)/cm4/probe/fw-%.elf)
CM4_LTO_ELF := $(CM4_PROBES:%=$(BUILD)/cm4/probe/fw-%-lto.elf)
CM4_ELF := $(CM4_PLAIN_ELF) $(CM4_LTO_ELF)
# Budgets (bytes): the core's text in each probe firmware, the state structures' RAM
# (struct fota_module + struct fota_agent + struct fota_boot_cfg, with the 1 KiB I/O
# buffer), the deepest stack path of the core (ports' own frames not included).
BUDGET_AGENT ?= 16384
BUDGET_BOOT  ?= 6144
BUDGET_RAM   ?= 6144
BUDGET_STACK ?= 1024
# The core's public calls a firmware makes; the deepest path of each is reported.
STACK_ENTRIES := fota_module_init fota_module_input fota_module_ready fota_module_upgrade_done \
                 fota_module_set_status fota_agent_init fota_agent_start fota_agent_poll \
                 fota_agent_report fota_boot_run fota_boot_confirm fota_boot_status \
                 fota_boot_mark_staged fota_boot_unstage fota_image_verify_flash_sig

$(BUILD)/cm4/%.o: src/core/%.c
	@mkdir -p $(@D)
	$(call say,ARMCC,$<)
	$(Q)$(ARM_CC) -Iinclude -MMD -MP $(CM4_FLAGS) -fstack-usage -fcallgraph-info=su \
		-c $< -o $@

$(BUILD)/cm4-lto/%.o: src/core/%.c
	@mkdir -p $(@D)
	$(call say,ARMCC,$< (LTO))
	$(Q)$(ARM_CC) -Iinclude -MMD -MP $(CM4_FLAGS) -flto -c $< -o $@

cortex-m: $(CM4_OBJ)

$(BUILD)/cm4/ram-probe.o: scripts/ram-probe.c
	@mkdir -p $(@D)
	$(Q)$(ARM_CC) -Iinclude -MMD -MP $(CM4_FLAGS) -fno-common -c $< -o $@

$(CM4_PROBE_OBJ): $(BUILD)/cm4/probe/fw-%.o: scripts/fw-probe.c
	@mkdir -p $(@D)
	$(call say,ARMCC,$< ($*))
	$(Q)$(ARM_CC) -Iinclude -MMD -MP $(CM4_FLAGS) -DPROBE_$(if $(filter agent,$*),AGENT,BOOT) \
		-fstack-usage -fcallgraph-info=su -c $< -o $@

$(CM4_LTO_ELF): $(BUILD)/cm4/probe/fw-%-lto.elf: $(BUILD)/cm4/probe/fw-%.o $(CM4_LTO_OBJ)
	$(call say,ARMLD,$@)
	$(Q)$(ARM_CC) $(CM4_LDFLAGS) -Os -flto -Wl,-Map=$(@:.elf=.map) $^ -o $@

$(CM4_PLAIN_ELF): $(BUILD)/cm4/probe/fw-%.elf: $(BUILD)/cm4/probe/fw-%.o $(CM4_OBJ)
	$(call say,ARMLD,$@)
	$(Q)$(ARM_CC) $(CM4_LDFLAGS) -Wl,-Map=$(@:.elf=.map) $^ -o $@

SIZE_ARGS = --objs $(BUILD)/cm4 --ram $(BUILD)/cm4/ram-probe.o --nm $(ARM_SIZE:size=nm) \
	--size $(ARM_SIZE) --budget-agent $(BUDGET_AGENT) --budget-boot $(BUDGET_BOOT) \
	--budget-ram $(BUDGET_RAM) \
	$(foreach p,$(CM4_PROBES),$(p)=$(BUILD)/cm4/probe/fw-$(p).map,$(BUILD)/cm4/probe/fw-$(p)-lto.map)
STACK_ARGS = --budget $(BUDGET_STACK) \
	--lib-elf $(BUILD)/cm4/probe/fw-agent.elf --lib-elf $(BUILD)/cm4/probe/fw-boot.elf \
	--objdump $(ARM_SIZE:size=objdump) $(addprefix --entry ,$(STACK_ENTRIES)) \
	$(CM4_OBJ:.o=.ci) $(CM4_PROBE_OBJ:.o=.ci)

.PHONY: size-check
size: cortex-m $(BUILD)/cm4/ram-probe.o $(CM4_ELF)
	@r=0; $(PYTHON) scripts/size-report $(SIZE_ARGS) || r=1; echo; \
	$(PYTHON) scripts/stack-report $(STACK_ARGS) || r=1; exit $$r

# size-check: the budgets alone (make check runs it).
size-check: cortex-m $(BUILD)/cm4/ram-probe.o $(CM4_ELF)
	@r=0; $(PYTHON) scripts/size-report --brief $(SIZE_ARGS) || r=1; \
	$(PYTHON) scripts/stack-report --brief $(STACK_ARGS) || r=1; exit $$r

clean:
	rm -rf build

help:
	@echo "make          build libfota, the POSIX port, fotad, fota and fota-server"
	@echo "make test     install what is missing, build, run every test (plain and ASan+UBSan)"
	@echo "make demo     install what is missing, build, show a whole upgrade (server + module)"
	@echo "make size     what a Cortex-M4 firmware links of the core, RAM, deepest stack; budgets"
	@echo "make bench    benchmarks beside their peers: curl, nginx (bench/README.md)"
	@echo "make fuzz     every fuzz target for FUZZ_SECONDS; make coverage: the core, line by line"
	@echo "make clean    remove build/"

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
