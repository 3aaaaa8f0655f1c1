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
check: all unit cortex-m
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

# --- the portable core for Cortex-M4: builds with no OS headers; sizes per module ------
CM4_FLAGS := -mcpu=cortex-m4 -mthumb -Os -std=c99 -pedantic $(CORE_WARN) -ffreestanding \
             -ffunction-sections -fdata-sections -fstack-usage
CM4_OBJ := $(CORE_SRC:src/core/%.c=$(BUILD)/cm4/%.o)

$(BUILD)/cm4/%.o: src/core/%.c
	@mkdir -p $(@D)
	$(call say,ARMCC,$<)
	$(Q)$(ARM_CC) -Iinclude -MMD -MP $(CM4_FLAGS) -c $< -o $@

cortex-m: $(CM4_OBJ)

$(BUILD)/cm4/ram-probe.o: scripts/ram-probe.c
	@mkdir -p $(@D)
	$(Q)$(ARM_CC) -Iinclude $(CM4_FLAGS) -fno-common -c $< -o $@

size: cortex-m $(BUILD)/cm4/ram-probe.o
	@scripts/size-report $(BUILD)/cm4 $(ARM_SIZE)

clean:
	rm -rf build

help:
	@echo "make          build libfota, the POSIX port, fotad, fota and fota-server"
	@echo "make test     install what is missing, build, run every test (plain and ASan+UBSan)"
	@echo "make demo     install what is missing, build, show a whole upgrade (server + module)"
	@echo "make size     flash per core module and RAM of its structures for Cortex-M4 (-Os)"
	@echo "make bench    benchmarks beside their peers: curl, nginx (bench/README.md)"
	@echo "make fuzz     every fuzz target for FUZZ_SECONDS; make coverage: the core, line by line"
	@echo "make clean    remove build/"

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
