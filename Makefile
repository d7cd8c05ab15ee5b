# Slipway's front door, like the article's: the Makefile is the contract.
#   make setup   install the Debian packages the build and tests need (idempotent)
#   make build   build build/slipway
#   make lint    clang-format check and clang-tidy; fails on findings
#   make test    setup + build + every test suite
#   make demo    setup + build + run the demo
#   make bench   setup + build + the benchmarks under bench/

BUILD ?= build
JOBS ?= $(shell nproc)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

PACKAGES := build-essential cmake ninja-build ccache git pkg-config \
  libyaml-cpp-dev nlohmann-json3-dev libsqlite3-dev libcli11-dev libssl-dev libcurl4-openssl-dev \
  libcpp-httplib-dev libgtest-dev libgmock-dev clang-format clang-tidy sqlite3 python3 python3-botocore faketime \
  hyperfine bc awscli

.PHONY: setup build lint test demo bench clean format

setup:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target slipway slipway_tests

SOURCES = $(shell git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' 'bench/*.cc' 2>/dev/null)
TIDY_SOURCES = $(shell git ls-files 'src/*.cc' 2>/dev/null | grep -v '_test\.cc$$')

lint: $(BUILD)/build.ninja
	clang-format --dry-run --Werror $(SOURCES)
	@echo "clang-tidy on $(words $(TIDY_SOURCES)) files"
	@printf '%s\n' $(TIDY_SOURCES) | xargs -P $(JOBS) -n 4 clang-tidy -p $(BUILD) --quiet 2>/dev/null

format:
	clang-format -i $(SOURCES)

test: setup build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: setup build
	$(BUILD)/slipway demo

bench: setup build
	bench/run

clean:
	rm -rf $(BUILD)
