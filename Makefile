# barelb: a load balancer for bare-metal Kubernetes.
GO        ?= go
VERSION   ?= v0.0.0-$(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/barelb/barelb/internal/version.Version=$(VERSION) \
	-X k8s.io/component-base/version.gitVersion=$(VERSION) \
	-X k8s.io/client-go/pkg/version.gitVersion=$(VERSION)
IMAGE_CREATED := $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo 1970-01-01T00:00:00Z)
BIN       := $(abspath bin)
KUBE_VERSION := v1.37.2
STATICCHECK_VERSION := v0.8.2
export BARELB_BIN := $(BIN)

.PHONY: all build test unit race tools-test bench lint demo conformance controlplane kustomize images deps clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/barelb-ccm ./cmd/barelb-nodehelper ./cmd/barelbctl ./cmd/barelb-demo

# deps installs the system packages the tests and the lab need (Debian).
deps:
	./hack/install-deps.sh

# controlplane builds etcd and kube-apiserver $(KUBE_VERSION) from the Go module proxy.
controlplane:
	./hack/build-controlplane.sh $(BIN) $(KUBE_VERSION)

# OCIIMAGE is the module of hack/ociimage (go-containerregistry stays out of go.mod);
# ./... of the main module does not reach it, so tools-test and lint name it.
OCIIMAGE  := $(abspath hack/ociimage)

# test runs every test: the unit tests under the race detector first, then every test
# (unit, integration against a real kube-apiserver, the privileged lab tests), and
# the tests of the hack/ociimage module.
test: deps controlplane kustomize build lint race tools-test
	BARELB_REQUIRE_CONTROLPLANE=1 $(GO) test -count=1 -timeout 40m ./...

# tools-test runs the tests of the hack/ociimage module.
tools-test:
	cd $(OCIIMAGE) && GOWORK=off $(GO) test -count=1 ./...

# race runs the unit tests (-short: no control plane, no lab) under the race detector.
race:
	$(GO) test -race -short -count=1 ./...

# kustomize builds bin/kustomize from the Go module proxy (hack/tools/kustomize).
kustomize:
	./hack/build-kustomize.sh $(BIN)

# images writes OCI image tarballs of both binaries to bin/images without a registry or
# a container engine: static binaries on an empty base (hack/ociimage), with USER,
# ENTRYPOINT and labels from Dockerfile.ccm and Dockerfile.nodehelper.
images:
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $(BIN)/static/ ./cmd/barelb-ccm ./cmd/barelb-nodehelper
	cd $(OCIIMAGE) && GOWORK=off $(GO) build -trimpath -o $(BIN)/ociimage .
	$(BIN)/ociimage -dockerfile Dockerfile.ccm -binary $(BIN)/static/barelb-ccm -created $(IMAGE_CREATED) \
		-tag barelb/barelb-ccm:latest,barelb/barelb-ccm:$(VERSION) -o $(BIN)/images/barelb-ccm.tar
	$(BIN)/ociimage -dockerfile Dockerfile.nodehelper -binary $(BIN)/static/barelb-nodehelper -created $(IMAGE_CREATED) \
		-tag barelb/barelb-nodehelper:latest,barelb/barelb-nodehelper:$(VERSION) -o $(BIN)/images/barelb-nodehelper.tar

unit:
	$(GO) test -count=1 -short ./...
	cd $(OCIIMAGE) && GOWORK=off $(GO) test -count=1 -short ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@test -z "$$(gofmt -s -l $$(git ls-files '*.go'))" || { gofmt -s -l $$(git ls-files '*.go'); echo 'gofmt -s: files above need formatting'; exit 1; }
	$(GO) vet ./...
	cd $(OCIIMAGE) && GOWORK=off $(GO) vet ./...
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(BIN)/staticcheck ./...
	cd $(OCIIMAGE) && GOWORK=off $(BIN)/staticcheck ./...

# conformance runs the end-to-end suite in a lab of network namespaces (root).
# make conformance KUBECONFIG=path runs the allocation-only cases against an
# existing cluster with barelb installed, and skips the lab.
ifeq ($(origin KUBECONFIG),command line)
conformance:
	BARELB_KUBECONFIG=$(KUBECONFIG) $(GO) test -count=1 -timeout 10m -v -run TestExistingCluster ./conformance/
else
conformance: deps controlplane build
	BARELB_REQUIRE_CONTROLPLANE=1 $(GO) test -count=1 -timeout 30m -v ./conformance/
endif

# demo: a lab cluster with a LoadBalancer Service reachable through barelb (root).
demo:
	@if [ "$$(id -u)" != 0 ]; then echo "make demo needs root: it builds network namespaces, a bridge and veth pairs (run: sudo make demo)."; exit 1; fi
	@$(MAKE) --no-print-directory deps controlplane build
	$(BIN)/barelb-demo

clean:
	rm -rf $(BIN)
