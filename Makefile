# ontime: `make run` starts the server with both UIs; `make test` runs every test.

GO          ?= go
ADDR        ?= 127.0.0.1:8080
FRONTEND    := frontend-react
NPM_STAMP   := $(FRONTEND)/node_modules/.installed
WORKERS_STAMP := docs/workers/node_modules/.installed
APP_INDEX   := $(FRONTEND)/dist/app/index.html
APP_SOURCES := $(shell find $(FRONTEND)/src -type f 2>/dev/null) $(FRONTEND)/index.html \
               $(FRONTEND)/vite.config.ts $(FRONTEND)/tsconfig.json $(FRONTEND)/package-lock.json
TEMPL_FILES := $(wildcard views/*.templ)

.PHONY: run build test test-go test-frontend test-fuzz check generate frontend fmt clean bench cluster demo

## run: build what is needed (templ, the React app, Go) and start the server.
## The server is built to bin/ and exec'd (not `go run`, which exits 1 when
## Ctrl-C reaches it too), so Ctrl-C ends it cleanly, with status 0.
run: generate frontend
	$(GO) build -o bin/ontime ./cmd/ontime
	exec bin/ontime --addr $(ADDR) $(ARGS)

## cluster: a local three-node cluster: a NATS server (pinned as a Go tool,
## built to bin/) on 127.0.0.1:4222 and ontime nodes on ports 8081-8083.
## Each part must answer its health check within CLUSTER_WAIT seconds, or
## everything stops and the make fails with that part's log; Ctrl-C stops all.
NATS_PORT      ?= 4222
NATS_HTTP_PORT ?= 8222
CLUSTER_PORTS  ?= 8081 8082 8083
CLUSTER_WAIT   ?= 30
cluster: generate frontend
	$(GO) build -o bin/ontime ./cmd/ontime
	$(GO) build -o bin/nats-server github.com/nats-io/nats-server/v2
	@pids=""; \
	  stop() { kill $$pids 2>/dev/null; wait; }; \
	  up() { \
	    tries=$$(($(CLUSTER_WAIT) * 4)); \
	    until curl -fs -o /dev/null --max-time 1 "$$1"; do \
	      if ! kill -0 "$$2" 2>/dev/null; then echo "cluster: $$3 exited; the end of $$4:" >&2; tail -n 20 "$$4" >&2; return 1; fi; \
	      tries=$$((tries - 1)); \
	      if [ $$tries -le 0 ]; then echo "cluster: $$3 did not answer $$1 within $(CLUSTER_WAIT) s; the end of $$4:" >&2; tail -n 20 "$$4" >&2; return 1; fi; \
	      sleep 0.25; \
	    done; \
	  }; \
	  trap 'stop; exit 0' INT TERM; \
	  bin/nats-server -a 127.0.0.1 -p $(NATS_PORT) -m $(NATS_HTTP_PORT) >bin/nats-server.log 2>&1 & pids="$$!"; \
	  up http://127.0.0.1:$(NATS_HTTP_PORT)/healthz $$! nats-server bin/nats-server.log || { stop; exit 1; }; \
	  for port in $(CLUSTER_PORTS); do \
	    ONTIME_NODE_ID=node-$$port bin/ontime --addr 127.0.0.1:$$port --nats nats://127.0.0.1:$(NATS_PORT) $(ARGS) >bin/node-$$port.log 2>&1 & pids="$$pids $$!"; \
	  done; \
	  set -- $$pids; shift; \
	  for port in $(CLUSTER_PORTS); do \
	    up http://127.0.0.1:$$port/healthz $$1 node-$$port bin/node-$$port.log || { stop; exit 1; }; shift; \
	  done; \
	  echo; echo "  ontime cluster (NATS on nats://127.0.0.1:$(NATS_PORT)); Ctrl-C stops all:"; \
	  for port in $(CLUSTER_PORTS); do echo "    http://127.0.0.1:$$port/   dashboard: http://127.0.0.1:$$port/app/"; done; \
	  echo "    logs: bin/nats-server.log, bin/node-<port>.log"; echo; wait

## demo: the demo worker (capacity DEMO_SLOTS / DEMO_SERVICE = 400 calls/s by
## default) on DEMO_WORKER, and ontime sending every event to it at twice its
## capacity, with adaptive concurrency: both UIs show the real calls, the
## limit it learns and what it sheds. Ctrl-C stops both.
DEMO_WORKER  ?= 127.0.0.1:8090
DEMO_SLOTS   ?= 8
DEMO_SERVICE ?= 20ms
DEMO_ARGS    ?= --rate 800 --workers 64 --deadline 100ms
demo: generate frontend
	$(GO) build -o bin/ontime ./cmd/ontime
	$(GO) build -o bin/ontime-worker ./cmd/ontime-worker
	@bin/ontime-worker --addr $(DEMO_WORKER) --slots $(DEMO_SLOTS) --service $(DEMO_SERVICE) >bin/ontime-worker.log 2>&1 & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	  trap 'exit 0' INT TERM; \
	  for i in $$(seq 40); do curl -fs -o /dev/null --max-time 1 http://$(DEMO_WORKER)/stats && break; \
	    if ! kill -0 $$worker 2>/dev/null || [ $$i = 40 ]; then echo "demo: the worker did not start; the end of bin/ontime-worker.log:" >&2; tail -n 20 bin/ontime-worker.log >&2; exit 1; fi; \
	    sleep 0.25; done; \
	  echo "  demo worker on http://$(DEMO_WORKER)/work ($(DEMO_SLOTS) slots x $(DEMO_SERVICE)); its log: bin/ontime-worker.log; its counters: curl -s http://$(DEMO_WORKER)/stats"; \
	  bin/ontime --addr $(ADDR) --processor http --worker-url http://$(DEMO_WORKER)/work $(DEMO_ARGS) $(ARGS)

## build: a single binary with both UIs embedded, in bin/ontime
build: generate frontend
	$(GO) build -o bin/ontime ./cmd/ontime

## test: static checks, the React app's tests, then every Go test (with -race,
## including the headless-Chromium browser tests against both UIs)
test: check test-frontend test-go test-fuzz

test-go: frontend $(WORKERS_STAMP)
	$(GO) test -race -count=1 -timeout 5m ./...

## the example NATS worker in Node (docs/workers) needs nats.js to be tested
$(WORKERS_STAMP): docs/workers/package-lock.json
	cd docs/workers && npm ci --no-audit --no-fund
	touch $@

## test-fuzz: a short run of each fuzz target (seed corpus in testdata/fuzz)
FUZZTIME ?= 10s
test-fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeJSON$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./internal/ingest/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeNDJSON$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./internal/ingest/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodePatch$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./internal/config/

## bench: the pipeline benchmark (policies under overload, throughput); see docs/benchmarks.md
bench:
	$(GO) run ./cmd/ontime-bench

test-frontend: $(NPM_STAMP)
	cd $(FRONTEND) && npm test

## check: gofmt, go vet, templ output up to date and formatted
check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool templ fmt -fail views
	$(GO) tool templ generate -check

## generate: regenerate templ components (commit the *_templ.go files)
generate: $(TEMPL_FILES:.templ=_templ.go)

views/%_templ.go: views/%.templ
	$(GO) tool templ generate -f $<

## frontend: install npm packages (when package-lock.json changes) and build the dashboard
frontend: $(APP_INDEX)

$(NPM_STAMP): $(FRONTEND)/package-lock.json
	cd $(FRONTEND) && npm ci --no-audit --no-fund
	touch $@

$(APP_INDEX): $(NPM_STAMP) $(APP_SOURCES)
	cd $(FRONTEND) && npm run build

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '_templ.go$$')
	$(GO) tool templ fmt views

clean:
	rm -rf bin $(FRONTEND)/dist/app $(FRONTEND)/node_modules
