// Command barelb-ccm is a cloud-controller-manager whose controllers are the
// service controller (class-less Services) and, with --load-balancer-class,
// barelb's class controller (Services of that class), both with barelb as
// their LoadBalancer provider: run it with --cloud-provider=barelb. Every
// standard CCM flag applies.
package main

import (
	"context"
	"fmt"
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
	controllermanagerapp "k8s.io/controller-manager/app"
	"k8s.io/controller-manager/controller"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/cloudprovider"
	"github.com/barelb/barelb/cloudprovider/classcontroller"
	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/internal/lbclass"
	"github.com/barelb/barelb/internal/version"
)

func main() {
	// The secure port serves /metrics from the legacy registry.
	m := cloudprovider.NewMetrics()
	legacyregistry.MustRegister(m.Registerables()...)
	legacyregistry.CustomMustRegister(m.Collectors()...)
	b := &binary{metrics: m}

	opts, err := options.NewCloudControllerManagerOptions()
	if err != nil {
		klog.Fatalf("failed to initialize options: %v", err)
	}
	var extra cliflag.NamedFlagSets
	b.classFlags.AddFlags(extra.FlagSet("barelb"))
	cmd := app.NewCloudControllerManagerCommand(opts, b.initCloud, b.controllers(), names.CCMControllerAliases(), extra, wait.NeverStop)
	cmd.Use = "barelb-ccm"
	cmd.Short = "barelb-ccm " + version.Version + ": LoadBalancer Services on bare metal"
	os.Exit(cli.Run(cmd))
}

// classControllerName is the class controller's name in --controllers.
const classControllerName = "barelb-class"

// binary is the state main wires: the parsed class flags, and the selector
// initCloud derives from them, which the app reads afterwards (it calls
// initCloud before it constructs the controllers).
type binary struct {
	metrics    *cloudprovider.Metrics
	classFlags lbclass.Flags
	served     lbclass.Selector
}

// controllers are the service controller, which the app skips when
// --serve-classless=false (class-less Services are then left to another
// implementation: the stock controller serves every class-less Service, so
// it must not run at all), and the class controller, skipped without
// --load-balancer-class.
func (b *binary) controllers() map[string]app.ControllerInitFuncConstructor {
	stock := app.DefaultInitFuncConstructors[names.ServiceLBController]
	return map[string]app.ControllerInitFuncConstructor{
		names.ServiceLBController: {
			InitContext: stock.InitContext,
			Constructor: func(ic app.ControllerInitContext, c *config.CompletedConfig, cl cloud.Interface) app.InitFunc {
				start := stock.Constructor(ic, c, cl)
				return func(ctx context.Context, cc controllermanagerapp.ControllerContext) (controller.Interface, bool, error) {
					if b.served.SkipClassless {
						klog.InfoS("Not serving class-less Services", "flag", "--"+lbclass.FlagServeClassless+"=false")
						return nil, false, nil
					}
					return start(ctx, cc)
				}
			},
		},
		classControllerName: {
			InitContext: stock.InitContext, // the same client and RBAC as the service controller
			Constructor: func(ic app.ControllerInitContext, c *config.CompletedConfig, cl cloud.Interface) app.InitFunc {
				return func(ctx context.Context, _ controllermanagerapp.ControllerContext) (controller.Interface, bool, error) {
					return startClassController(ctx, b.served.Class, ic, c, cl)
				}
			},
		},
	}
}

// startClassController starts the class controller for class; it is not
// started when class is empty.
func startClassController(ctx context.Context, class string, ic app.ControllerInitContext, c *config.CompletedConfig, cl cloud.Interface) (controller.Interface, bool, error) {
	if class == "" {
		return nil, false, nil
	}
	lb, ok := cl.LoadBalancer()
	if !ok {
		return nil, false, fmt.Errorf("failed to start the class controller: the provider has no load balancer")
	}
	cc, err := classcontroller.New(classcontroller.Options{
		Class:       class,
		ClusterName: c.ComponentConfig.KubeCloudShared.ClusterName,
		Client:      c.ClientBuilder.ClientOrDie(ic.ClientName),
		Balancer:    lb,
		Workers:     int(c.ComponentConfig.ServiceController.ConcurrentServiceSyncs),
		EventSource: contract.ComponentCCM,
	})
	if err != nil {
		return nil, false, err
	}
	go func() {
		if err := cc.Run(ctx); err != nil {
			klog.FromContext(ctx).Error(err, "Class controller stopped")
		}
	}()
	return nil, true, nil
}

// initCloud validates the class flags, registers barelb with them and builds
// the provider named by --cloud-provider from --cloud-config.
func (b *binary) initCloud(c *config.CompletedConfig) cloud.Interface {
	served, err := b.classFlags.Selector()
	if err != nil {
		klog.Fatalf("invalid flags: %v", err)
	}
	b.served = served
	cloud.RegisterCloudProvider(cloudprovider.ProviderName, cloudprovider.NewFactory(b.metrics, served))
	shared := c.ComponentConfig.KubeCloudShared.CloudProvider
	klog.InfoS("Starting barelb-ccm", "version", version.Version, "cloudProvider", shared.Name, "serves", served.String())
	p, err := cloud.InitCloudProvider(shared.Name, shared.CloudConfigFile)
	if err != nil {
		klog.Fatalf("failed to initialize cloud provider %q: %v", shared.Name, err)
	}
	if p == nil {
		klog.Fatalf("cloud provider %q is unknown; use --cloud-provider=%s", shared.Name, cloudprovider.ProviderName)
	}
	return p
}
