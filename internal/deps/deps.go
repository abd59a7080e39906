package deps

import (
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/hashicorp/memberlist"
	_ "github.com/mdlayher/arp"
	_ "github.com/mdlayher/ethernet"
	_ "github.com/mdlayher/ndp"
	_ "github.com/mdlayher/packet"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/sync/errgroup"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/apis/meta/v1"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/cloud-provider"
	_ "k8s.io/cloud-provider/app"
	_ "k8s.io/cloud-provider/options"
	_ "k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics"
	_ "k8s.io/klog/v2"
	_ "sigs.k8s.io/yaml"
)
