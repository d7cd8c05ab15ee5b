# Slipway's front door, like the article's: the Makefile is the contract.
#   make setup   install the Debian packages the build and tests need (idempotent)
#   make build   build build/slipway
#   make lint    clang-format check and clang-tidy; fails on findings
#   make test    setup + build + every test suite
#   make demo    setup + build + run the demo
#   make bench   setup + build + the benchmarks under bench/
#   make test-asan  every test under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan)
#   make fuzz    the libFuzzer targets of fuzz/, FUZZ_SECONDS each (clang, build-fuzz)

BUILD ?= build
JOBS ?= $(shell nproc)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# libpq-dev and libcurl4-openssl-dev bring the runtime packages libpq5 and
# libcurl4, which slipway loads at first use, not at start (src/dynlib/).
PACKAGES := build-essential cmake ninja-build ccache git pkg-config \
  libyaml-cpp-dev nlohmann-json3-dev libsqlite3-dev libcli11-dev libssl-dev libcurl4-openssl-dev \
  libcpp-httplib-dev libgit2-dev libgtest-dev libgmock-dev clang-format clang-tidy sqlite3 python3 python3-botocore faketime \
  hyperfine bc awscli libpq-dev postgresql clang libclang-rt-14-dev \
  chromium nodejs gnupg openssh-client openssl

.PHONY: setup build lint test demo bench clean format test-asan fuzz

setup:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@# npm: Debian's package, unless a Node.js that bundles it is installed.
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq npm; }
	@# The browser tests' packages (tests/browser), again only when the lock file changed.
	@if ! cmp -s tests/browser/package-lock.json tests/browser/node_modules/.slipway-lock.json; then \
	  npm ci --prefix tests/browser --no-audit --no-fund && \
	  cp tests/browser/package-lock.json tests/browser/node_modules/.slipway-lock.json; \
	fi

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target slipway slipway_tests

SOURCES = $(shell git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' 'bench/*.cc' 'fuzz/*.cc' 2>/dev/null)
TIDY_SOURCES = $(shell git ls-files 'src/*.cc' 2>/dev/null | grep -v '_test\.cc$$')

lint: $(BUILD)/build.ninja
	clang-format --dry-run --Werror $(SOURCES)
	@echo "clang-tidy on $(words $(TIDY_SOURCES)) files"
	@printf '%s\n' $(TIDY_SOURCES) | xargs -P $(JOBS) -n 4 clang-tidy -p $(BUILD) --quiet 2>/dev/null

format:
	clang-format -i $(SOURCES)

test: setup build
	@# The store suite and fleet tests start their own PostgreSQL (tests/testing/postgres.h): never skip them.
	cd $(BUILD) && SLIPWAY_REQUIRE_POSTGRES=1 ctest --output-on-failure -j $(JOBS)

demo: setup build
	$(BUILD)/slipway demo

bench: setup build
	bench/run

clean:
	rm -rf $(BUILD)

# Sanitizers (doc/reliability.md). Every report of the binary, the tests and
# the daemons they start goes to a file under $(ASAN_BUILD)/sanitizer-reports;
# the target fails when ctest fails or when any report was written.
ASAN_BUILD ?= build-asan
SANITIZER_REPORTS = $(abspath $(ASAN_BUILD))/sanitizer-reports
SANITIZER_ENV = ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:detect_stack_use_after_return=0:log_path=$(SANITIZER_REPORTS)/asan \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(SANITIZER_REPORTS)/ubsan \
  LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0

test-asan: setup
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DSLIPWAY_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1"
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target slipway slipway_tests
	rm -rf $(SANITIZER_REPORTS) && mkdir -p $(SANITIZER_REPORTS)
	@rc=0; (cd $(ASAN_BUILD) && $(SANITIZER_ENV) ctest --output-on-failure -j $(JOBS) --timeout 900) || rc=$$?; \
	if [ -n "$$(ls -A $(SANITIZER_REPORTS))" ]; then \
	  echo "sanitizer reports in $(SANITIZER_REPORTS):"; head -n 60 $(SANITIZER_REPORTS)/*; exit 1; \
	fi; \
	echo "sanitizers: no report"; exit $$rc

# Fuzzing (doc/reliability.md): each fuzz/<name>_fuzz.cc runs FUZZ_SECONDS on
# its seed corpus fuzz/corpus/<name> (read only) plus what earlier runs found
# ($(FUZZ_BUILD)/corpus/<name>). Crashes land in $(FUZZ_BUILD)/crashes/.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_NAMES = $(patsubst fuzz/%_fuzz.cc,%,$(wildcard fuzz/*_fuzz.cc))

fuzz: setup
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DSLIPWAY_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_NAMES))
	@mkdir -p $(FUZZ_BUILD)/crashes
	@set -e; for n in $(FUZZ_NAMES); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	  echo "== fuzz_$$n for $(FUZZ_SECONDS)s"; \
	  $(FUZZ_BUILD)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crashes/$$n- \
	    $(FUZZ_BUILD)/corpus/$$n fuzz/corpus/$$n 2>&1 | tee $(FUZZ_BUILD)/fuzz_$$n.log | grep -E '^(stat::number_of_executed_units|#[0-9]+ +DONE|==[0-9]+==ERROR|SUMMARY)' || true; \
	  if grep -qE '==[0-9]+==ERROR|SUMMARY: |deadly signal|Test unit written' $(FUZZ_BUILD)/fuzz_$$n.log; then \
	    echo "fuzz_$$n found a problem: see $(FUZZ_BUILD)/fuzz_$$n.log and $(FUZZ_BUILD)/crashes/"; exit 1; fi; \
	done
