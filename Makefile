# dwcp-ml: `make demo` builds everything and runs the main job; `make test` runs every test.
# Both install what they need: a virtual environment (.venv), clang for the determinism
# matrix, Go modules. pip's and Go's caches live outside the repository.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
BUILD := build
CTEST_BUILD := $(BUILD)/c
GO ?= go
export CGO_ENABLED := 1
# Go's build cache does not see edits to the feature core's .c files that sidecar/featurecore's
# one-line wrappers #include; a digest of those sources in the cgo flags makes it rebuild.
export CGO_CFLAGS := -O2 -g -DDWCP_FC_SOURCES_DIGEST=$(shell cat feature_core/src/*.c feature_core/src/*.h feature_core/include/*.h 2>/dev/null | sha256sum | cut -c1-16)

C_SOURCES := $(wildcard feature_core/src/*.c feature_core/src/*.h feature_core/include/*.h)
PY_SOURCES := pyproject.toml setup.py feature_core/python/_build.py

.PHONY: all demo default-bundle test test-c test-py test-go bench toolchain venv clean

all: venv c-build go-build

# ---- toolchain ---------------------------------------------------------------------------

# clang (the second compiler of the determinism matrix, libFuzzer, sanitizers), ninja, and
# systemd-analyze (tests/test_deploy.py verifies deploy/systemd's unit with it).
# prometheus and promtool: the real Prometheus of tests/test_prometheus.py and `promtool
# check/test rules` of deploy/prometheus. Installed without its Recommends (node-exporter is
# a service of its own). Debian's package enables prometheus.service and, on a host running
# systemd, starts it on :9090; the tests start their own on a free loopback port, so the
# packaged one is stopped and disabled right after installing it.
toolchain:
	@missing=""; \
	command -v clang >/dev/null || missing="$$missing clang"; \
	command -v ninja >/dev/null || missing="$$missing ninja-build"; \
	command -v objdump >/dev/null || missing="$$missing binutils"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing (Debian packages)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then \
	  echo "installing prometheus (Debian package, without its Recommends)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends prometheus >/dev/null || exit 1; \
	  if [ -d /run/systemd/system ]; then \
	    $$SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true; \
	  fi; \
	fi

# ---- Python ------------------------------------------------------------------------------

venv: $(VENV)/.installed

$(VENV)/.installed: $(PY_SOURCES) $(C_SOURCES)
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev]'
	touch $@

# ---- C -----------------------------------------------------------------------------------

$(CTEST_BUILD)/build.ninja: CMakeLists.txt feature_core/tests/CMakeLists.txt | toolchain
	cmake -S . -B $(CTEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null

.PHONY: c-build
c-build: $(CTEST_BUILD)/build.ninja
	cmake --build $(CTEST_BUILD)

# ---- Go ----------------------------------------------------------------------------------

.PHONY: go-deps go-build
go-deps:
	$(GO) mod download

go-build: go-deps
	$(GO) build ./...

# Regenerates the sidecar's gRPC code (committed, so building and testing need no protoc).
# protoc-gen-go matches the protobuf module in go.mod; protoc-gen-go-grpc v1.6.x emits code
# for grpc >= 1.64 (go.mod has 1.85).
# The .proto path under PROTO_ROOT is its name in the process-wide protobuf registry.
PROTO_ROOT := sidecar/proto
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2

.PHONY: proto
proto:
	@command -v protoc >/dev/null || { \
	  echo "installing protobuf-compiler (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq protobuf-compiler >/dev/null; }
	GOBIN=$(CURDIR)/$(BUILD)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(CURDIR)/$(BUILD)/bin $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	PATH=$(CURDIR)/$(BUILD)/bin:$$PATH protoc -I $(PROTO_ROOT) \
	  --go_out=$(PROTO_ROOT) --go_opt=paths=source_relative \
	  --go-grpc_out=$(PROTO_ROOT) --go-grpc_opt=paths=source_relative \
	  dwcpml/v1/engine.proto

# ---- main job and tests ------------------------------------------------------------------

DWCP := $(VENV)/bin/dwcp-ml
DEMO := $(BUILD)/demo
SIDECAR_SOCK := $(BUILD)/dwcp-sidecar.sock
SIDECAR_LOG := $(BUILD)/dwcp-sidecar.log

# The main job on the embedded default data: features, train, export (verified against the
# native models), bundle with golden predictions, verify the bundle bit for bit.
demo: all
	$(DWCP) features --source synthetic --quiet
	$(DWCP) golden --check
	rm -rf $(DEMO)
	$(DWCP) train --work $(DEMO)/work --quiet
	$(DWCP) export --work $(DEMO)/work --quiet
	$(DWCP) bundle --work $(DEMO)/work --out $(DEMO)/bundle --version demo
	$(DWCP) verify $(DEMO)/bundle
	$(DWCP) verify golden/bundle
	@# The sidecar reloads only bundles under -bundle-root: serve a copy of golden/bundle
	@# from beside the bundle just trained.
	cp -r golden/bundle $(DEMO)/default-bundle
	@# Both bundles are signed with a key made for the demo; the sidecar serves only bundles
	@# signed by a key in -trusted-keys.
	$(DWCP) keygen --out-private $(DEMO)/keys/signing.key --out-public $(DEMO)/keys/trusted.pub
	$(DWCP) sign $(DEMO)/default-bundle --key $(DEMO)/keys/signing.key
	$(DWCP) sign $(DEMO)/bundle --key $(DEMO)/keys/signing.key
	$(DWCP) verify $(DEMO)/bundle --trusted-keys $(DEMO)/keys/trusted.pub
	@# train and bundle logged their runs in the embedded MLflow store (docs/lifecycle.md);
	@# the signed demo bundle becomes a new version of dwcp-demo, alias champion.
	$(DWCP) registry register $(DEMO)/bundle --name dwcp-demo --alias champion \
		--trusted-keys $(DEMO)/keys/trusted.pub
	$(GO) build -o $(BUILD)/bin/dwcp-sidecar ./cmd/dwcp-sidecar
	CGO_ENABLED=0 $(GO) build -o $(BUILD)/bin/dwcp-client ./cmd/dwcp-client
	@# The sidecar serves the copy of golden/bundle, the pure-Go client sends one call of each kind and
	@# hot-reloads the bundle just trained, then SIGTERM must drain and exit 0. The trap
	@# stops the sidecar whatever fails; its log is printed after the client's output.
	@sock=$(CURDIR)/$(SIDECAR_SOCK); log=$(SIDECAR_LOG); client="$(BUILD)/bin/dwcp-client -addr unix://$$sock"; \
	ONNXRUNTIME_LIB=$(ORT_LIB) $(BUILD)/bin/dwcp-sidecar -bundle $(DEMO)/default-bundle -bundle-root $(DEMO) \
		-trusted-keys $(DEMO)/keys/trusted.pub -unix $$sock -metrics "" 2>$$log & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; echo "--- $$log"; cat $$log' EXIT; \
	$$client -bundle golden/bundle demo || exit 1; \
	echo; $$client reload $(DEMO)/bundle || exit 1; \
	kill -TERM $$pid; wait $$pid; status=$$?; trap - EXIT; echo "--- $$log"; cat $$log; \
	if [ $$status -ne 0 ]; then echo "dwcp-sidecar exited with status $$status" >&2; exit 1; fi

# Regenerates the committed default bundle (golden/bundle) from the default data.
# Built beside and moved into place, so golden/bundle is never half written.
default-bundle: venv
	rm -rf $(BUILD)/default $(BUILD)/default-bundle
	$(DWCP) train --work $(BUILD)/default --quiet
	$(DWCP) export --work $(BUILD)/default --quiet
	$(DWCP) bundle --work $(BUILD)/default --out $(BUILD)/default-bundle --version default-1
	$(DWCP) drift attach $(BUILD)/default-bundle
	rm -rf golden/bundle && mv $(BUILD)/default-bundle golden/bundle

test: test-c test-py test-go

test-c: c-build
	ctest --test-dir $(CTEST_BUILD) --output-on-failure

# toolchain: tests/test_prometheus.py and tests/test_deploy.py run prometheus, promtool and
# systemd-analyze.
test-py: toolchain venv
	$(VPY) -m pytest

# Go links the libonnxruntime.so of the pinned Python wheel (so Go and Python run the same
# kernels) and, for the fault tests, the library of another ONNX Runtime release.
ORT_OTHER_VERSION := 1.31.1
ORT_OTHER := $(BUILD)/ort-$(ORT_OTHER_VERSION)/libonnxruntime.so.$(ORT_OTHER_VERSION)
ORT_LIB = $$(ls $(CURDIR)/$(VENV)/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -1)

$(ORT_OTHER): | venv
	rm -rf $(BUILD)/ort-$(ORT_OTHER_VERSION) && mkdir -p $(BUILD)/ort-$(ORT_OTHER_VERSION)
	$(VPY) -m pip download -q --no-deps --only-binary :all: -d $(BUILD)/ort-$(ORT_OTHER_VERSION) \
	  onnxruntime==$(ORT_OTHER_VERSION)
	cd $(BUILD)/ort-$(ORT_OTHER_VERSION) && $(abspath $(VPY)) -c "import glob, zipfile; \
	  z = zipfile.ZipFile(glob.glob('*.whl')[0]); \
	  n = [f for f in z.namelist() if '/capi/libonnxruntime.so.' in f][0]; \
	  open(n.rsplit('/', 1)[1], 'wb').write(z.read(n))"
	rm -f $(BUILD)/ort-$(ORT_OTHER_VERSION)/*.whl

FUZZTIME ?= 10s

test-go: go-deps venv $(ORT_OTHER)
	$(GO) vet ./...
	@# The packages DWCP services link without a C toolchain must stay pure Go.
	CGO_ENABLED=0 $(GO) build ./sidecar/client ./sidecar/engine ./sidecar/bundle ./sidecar/dwcp ./cmd/dwcp-client
	rm -rf $(BUILD)/bad-bundles && $(VPY) -m dwcp_ml.golden.bad_bundles $(BUILD)/bad-bundles
	ONNXRUNTIME_LIB=$(ORT_LIB) DWCP_TEST_OTHER_ORT_LIB=$(abspath $(ORT_OTHER)) \
	  DWCP_BAD_BUNDLES=$(abspath $(BUILD)/bad-bundles) $(GO) test ./...
	@# A short run of each fuzz target past its seeds; longer runs: docs/bundle.md, docs/serving.md.
	for target in "FuzzManifest ./sidecar/bundle" "FuzzGolden ./sidecar/bundle" \
	    "FuzzRequest ./sidecar/internal/wire"; do set -- $$target; \
	  ONNXRUNTIME_LIB=$(ORT_LIB) $(GO) test -run '^$$' -fuzz "^$$1$$" -fuzztime $(FUZZTIME) \
	    -fuzzminimizetime 1s $$2 || exit 1; done

bench: venv
	$(VPY) tests/bench_features.py
	$(VPY) tests/bench_anomaly.py
	$(VPY) tests/bench_scaling.py
	$(VPY) tests/bench_pba.py
	$(GO) test -run '^$$' -bench . -benchtime 2s ./sidecar/featurecore ./sidecar/runtime ./sidecar/server
	ONNXRUNTIME_LIB=$(ORT_LIB) $(GO) run ./cmd/dwcp-bench -bundle golden/bundle -python $(VPY)

clean:
	rm -rf $(BUILD) $(VENV) feature_core/python/_native*.so
