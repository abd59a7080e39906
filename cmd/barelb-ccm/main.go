// Command barelb-ccm is a cloud-controller-manager whose only controller is the
// service controller, with barelb as its LoadBalancer provider: run it with
// --cloud-provider=barelb. Every standard CCM flag applies.
package main

import (
	"os"

	"k8s.io/apimachinery/pkg/util/wait"
	cloud "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/app"
	"k8s.io/cloud-provider/app/config"
	"k8s.io/cloud-provider/names"
	"k8s.io/cloud-provider/options"
	"k8s.io/component-base/cli"
	cliflag "k8s.io/component-base/cli/flag"
	_ "k8s.io/component-base/logs/json/register" // --logging-format=json
	"k8s.io/component-base/metrics/legacyregistry"
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/cloudprovider"
	"github.com/barelb/barelb/internal/lbclass"
	"github.com/barelb/barelb/internal/version"
)

func main() {
	// The secure port serves /metrics from the legacy registry.
	m := cloudprovider.NewMetrics()
	legacyregistry.MustRegister(m.Registerables()...)
	legacyregistry.CustomMustRegister(m.Collectors()...)
	cloud.RegisterCloudProvider(cloudprovider.ProviderName, cloudprovider.NewFactory(m, lbclass.Selector{}))

	opts, err := options.NewCloudControllerManagerOptions()
	if err != nil {
		klog.Fatalf("failed to initialize options: %v", err)
	}
	cmd := app.NewCloudControllerManagerCommand(opts, initCloud, controllers(), names.CCMControllerAliases(), cliflag.NamedFlagSets{}, wait.NeverStop)
	cmd.Use = "barelb-ccm"
	cmd.Short = "barelb-ccm " + version.Version + ": LoadBalancer Services on bare metal"
	os.Exit(cli.Run(cmd))
}

// controllers keeps only the service controller: barelb implements load balancers,
// nothing the node and route controllers need.
func controllers() map[string]app.ControllerInitFuncConstructor {
	return map[string]app.ControllerInitFuncConstructor{
		names.ServiceLBController: app.DefaultInitFuncConstructors[names.ServiceLBController],
	}
}

// initCloud builds the provider named by --cloud-provider from --cloud-config.
func initCloud(c *config.CompletedConfig) cloud.Interface {
	shared := c.ComponentConfig.KubeCloudShared.CloudProvider
	klog.InfoS("Starting barelb-ccm", "version", version.Version, "cloudProvider", shared.Name)
	p, err := cloud.InitCloudProvider(shared.Name, shared.CloudConfigFile)
	if err != nil {
		klog.Fatalf("failed to initialize cloud provider %q: %v", shared.Name, err)
	}
	if p == nil {
		klog.Fatalf("cloud provider %q is unknown; use --cloud-provider=%s", shared.Name, cloudprovider.ProviderName)
	}
	return p
}
