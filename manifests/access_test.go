package manifests

import (
	"context"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/barelb/barelb/internal/controlplane"
)

// Fixture objects the checks act on, created by the admin.
const (
	appNS      = "app"
	service    = "web"
	slice      = "web-1"
	node       = "node-1"
	configName = "config"
	keySecret  = "memberlist"
	recordName = "barelb-last-applied-config"
	leaseName  = "cloud-controller-manager"
)

// call is one API request made as an identity.
type call func(ctx context.Context, c kubernetes.Interface) error

// access is one row of an identity's table: a real API request and whether
// RBAC must allow it. An allowed request must succeed outright; a denied one
// must fail with Forbidden.
type access struct {
	name    string
	do      call
	allowed bool
}

// testAccess makes real API requests with each identity's ServiceAccount
// token, after the manifests' RBAC is applied: each gets what it needs and
// is denied what it should not have.
func testAccess(t *testing.T, cp *controlplane.ControlPlane, admin kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	createFixtures(ctx, t, admin)
	identities := []struct {
		name  string
		table []access
	}{
		{name: ccm, table: ccmAccess()},
		{name: nodehelper, table: nodehelperAccess()},
	}
	for _, id := range identities {
		token, err := cp.ServiceAccountToken(ctx, namespace, id.name)
		if err != nil {
			t.Fatal(err)
		}
		c, err := kubernetes.NewForConfig(cp.RESTConfigForToken(token))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(id.name, func(t *testing.T) {
			// In order: some rows use what an earlier row created.
			for _, tt := range id.table {
				t.Run(tt.name, func(t *testing.T) {
					err := tt.do(ctx, c)
					switch {
					case tt.allowed && err != nil:
						t.Errorf("want allowed, got %v", err)
					case !tt.allowed && !apierrors.IsForbidden(err):
						t.Errorf("want Forbidden, got %v", err)
					}
				})
			}
		})
	}
}

// createFixtures creates the objects the checks read and write.
func createFixtures(ctx context.Context, t *testing.T, admin kubernetes.Interface) {
	t.Helper()
	steps := []func() error{
		func() error {
			_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNS}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			s := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: service, Namespace: appNS},
				Spec: corev1.ServiceSpec{
					Type:  corev1.ServiceTypeLoadBalancer,
					Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
				},
			}
			_, err := admin.CoreV1().Services(appNS).Create(ctx, s, metav1.CreateOptions{})
			return err
		},
		func() error {
			ready := true
			es := &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Name: slice, Namespace: appNS, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.10"}, NodeName: ptr(node), Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
			}
			_, err := admin.DiscoveryV1().EndpointSlices(appNS).Create(ctx, es, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{})
			return err
		},
		func() error { return createSecret(ctx, admin, namespace, keySecret) },
		func() error { return createSecret(ctx, admin, namespace, "other") },
		func() error { return createSecret(ctx, admin, appNS, "app-secret") },
		func() error {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: namespace}}
			_, err := admin.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{})
			return err
		},
		func() error {
			l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: namespace}}
			_, err := admin.CoordinationV1().Leases(namespace).Create(ctx, l, metav1.CreateOptions{})
			return err
		},
	}
	for i, s := range steps {
		if err := s(); err != nil {
			t.Fatalf("fixture %d: %v", i, err)
		}
	}
}

func createSecret(ctx context.Context, c kubernetes.Interface, ns, name string) error {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: map[string]string{"secretkey": "not-a-real-key"}}
	_, err := c.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
	return err
}

func ptr[T any](v T) *T { return &v }

// byName selects one object by name, as barelb's informers of the
// configuration and the gossip key do (RBAC matches it to resourceNames).
func byName(name string) metav1.ListOptions {
	return metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()}
}

// watchOnce opens a watch and closes it: authorization happens on opening.
func watchOnce(w watch.Interface, err error) error {
	if err != nil {
		return err
	}
	w.Stop()
	return nil
}

// Calls shared by both identities' tables.
var (
	getService = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Services(appNS).Get(ctx, service, metav1.GetOptions{})
		return err
	}
	listServices = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Services("").List(ctx, metav1.ListOptions{})
		return err
	}
	watchServices = func(ctx context.Context, c kubernetes.Interface) error {
		return watchOnce(c.CoreV1().Services("").Watch(ctx, metav1.ListOptions{}))
	}
	updateService = func(ctx context.Context, c kubernetes.Interface) error {
		s, err := c.CoreV1().Services(appNS).Get(ctx, service, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.Annotations = map[string]string{"example.com/touched": "yes"}
		_, err = c.CoreV1().Services(appNS).Update(ctx, s, metav1.UpdateOptions{})
		return err
	}
	patchService = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Services(appNS).Patch(ctx, service, types.MergePatchType, []byte(`{"metadata":{"finalizers":["service.kubernetes.io/load-balancer-cleanup"]}}`), metav1.PatchOptions{})
		return err
	}
	deleteService = func(ctx context.Context, c kubernetes.Interface) error {
		return c.CoreV1().Services(appNS).Delete(ctx, service, metav1.DeleteOptions{})
	}
	createService = func(ctx context.Context, c kubernetes.Interface) error {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: appNS}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
		_, err := c.CoreV1().Services(appNS).Create(ctx, s, metav1.CreateOptions{})
		return err
	}
	getNode = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		return err
	}
	listNodes = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return err
	}
	watchNodes = func(ctx context.Context, c kubernetes.Interface) error {
		return watchOnce(c.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{}))
	}
	patchNode = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(`{"metadata":{"labels":{"example.com/touched":"yes"}}}`), metav1.PatchOptions{})
		return err
	}
	getConfig = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().ConfigMaps(namespace).Get(ctx, configName, metav1.GetOptions{})
		return err
	}
	listConfigByName = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().ConfigMaps(namespace).List(ctx, byName(configName))
		return err
	}
	watchConfigByName = func(ctx context.Context, c kubernetes.Interface) error {
		return watchOnce(c.CoreV1().ConfigMaps(namespace).Watch(ctx, byName(configName)))
	}
	createRecord = func(ctx context.Context, c kubernetes.Interface) error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: recordName, Namespace: namespace}, Data: map[string]string{"config": "address-pools: []\n"}}
		_, err := c.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{})
		return err
	}
	getRecord = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().ConfigMaps(namespace).Get(ctx, recordName, metav1.GetOptions{})
		return err
	}
	updateRecord = func(ctx context.Context, c kubernetes.Interface) error {
		cm, err := c.CoreV1().ConfigMaps(namespace).Get(ctx, recordName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cm.Annotations = map[string]string{"barelb.io/source-resource-version": "2"}
		_, err = c.CoreV1().ConfigMaps(namespace).Update(ctx, cm, metav1.UpdateOptions{})
		return err
	}
	patchRecord = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().ConfigMaps(namespace).Patch(ctx, recordName, types.MergePatchType, []byte(`{"data":{"config":"address-pools: []\n"}}`), metav1.PatchOptions{})
		return err
	}
	deleteRecord = func(ctx context.Context, c kubernetes.Interface) error {
		return c.CoreV1().ConfigMaps(namespace).Delete(ctx, recordName, metav1.DeleteOptions{})
	}
	listRecordByName = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().ConfigMaps(namespace).List(ctx, byName(recordName))
		return err
	}
	watchRecordByName = func(ctx context.Context, c kubernetes.Interface) error {
		return watchOnce(c.CoreV1().ConfigMaps(namespace).Watch(ctx, byName(recordName)))
	}
	listConfigMaps = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().ConfigMaps(namespace).List(ctx, metav1.ListOptions{})
		return err
	}
	getOtherConfigMap = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().ConfigMaps(namespace).Get(ctx, "other", metav1.GetOptions{})
		return err
	}
	updateConfig = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().ConfigMaps(namespace).Patch(ctx, configName, types.MergePatchType, []byte(`{"data":{"config":"address-pools: []\n"}}`), metav1.PatchOptions{})
		return err
	}
	getKey = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Secrets(namespace).Get(ctx, keySecret, metav1.GetOptions{})
		return err
	}
	listKeyByName = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Secrets(namespace).List(ctx, byName(keySecret))
		return err
	}
	watchKeyByName = func(ctx context.Context, c kubernetes.Interface) error {
		return watchOnce(c.CoreV1().Secrets(namespace).Watch(ctx, byName(keySecret)))
	}
	getOtherSecret = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Secrets(namespace).Get(ctx, "other", metav1.GetOptions{})
		return err
	}
	getAppSecret = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Secrets(appNS).Get(ctx, "app-secret", metav1.GetOptions{})
		return err
	}
	listSecrets = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{})
		return err
	}
	listAllSecrets = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
		return err
	}
	updateKey = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Secrets(namespace).Patch(ctx, keySecret, types.MergePatchType, []byte(`{"stringData":{"secretkey":"changed"}}`), metav1.PatchOptions{})
		return err
	}
	listSlices = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
		return err
	}
	createTokenReview = func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: "not-a-token"}}, metav1.CreateOptions{})
		return err
	}
	createSubjectAccessReview = func(ctx context.Context, c kubernetes.Interface) error {
		sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{User: "someone", NonResourceAttributes: &authzv1.NonResourceAttributes{Path: "/metrics", Verb: "get"}}}
		_, err := c.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		return err
	}
)

// event is the Event each identity creates and then patches, as
// record.EventBroadcaster does for a repeated event.
func event(source string) *corev1.Event {
	now := metav1.Now()
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: service + "." + source, Namespace: appNS},
		InvolvedObject: corev1.ObjectReference{Kind: "Service", APIVersion: "v1", Namespace: appNS, Name: service},
		Reason:         "Test",
		Message:        "written by the manifests test",
		Type:           corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: source},
		FirstTimestamp: now,
		LastTimestamp:  now,
		Count:          1,
	}
}

func createEvent(source string) call {
	return func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Events(appNS).Create(ctx, event(source), metav1.CreateOptions{})
		return err
	}
}

func patchEvent(source string) call {
	return func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Events(appNS).Patch(ctx, service+"."+source, types.StrategicMergePatchType, []byte(`{"count":2}`), metav1.PatchOptions{})
		return err
	}
}

func updateEvent(source string) call {
	return func(ctx context.Context, c kubernetes.Interface) error {
		_, err := c.CoreV1().Events(appNS).Update(ctx, event(source), metav1.UpdateOptions{})
		return err
	}
}

// ccmAccess is what barelb-ccm (the cloud-provider service controller, the
// barelb provider, leader election and the secure port) must and must not do.
func ccmAccess() []access {
	return []access{
		{name: "get service", do: getService, allowed: true},
		{name: "list services", do: listServices, allowed: true},
		{name: "watch services", do: watchServices, allowed: true},
		{name: "update service", do: updateService, allowed: true},
		{name: "patch service finalizer", do: patchService, allowed: true},
		{name: "update service status", do: func(ctx context.Context, c kubernetes.Interface) error {
			s, err := c.CoreV1().Services(appNS).Get(ctx, service, metav1.GetOptions{})
			if err != nil {
				return err
			}
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.51.100.1"}}
			_, err = c.CoreV1().Services(appNS).UpdateStatus(ctx, s, metav1.UpdateOptions{})
			return err
		}, allowed: true},
		{name: "patch service status", do: func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.CoreV1().Services(appNS).Patch(ctx, service, types.MergePatchType, []byte(`{"status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.2"}]}}}`), metav1.PatchOptions{}, "status")
			return err
		}, allowed: true},
		{name: "create event", do: createEvent("ccm"), allowed: true},
		{name: "patch event", do: patchEvent("ccm"), allowed: true},
		{name: "get config", do: getConfig, allowed: true},
		{name: "list config by name", do: listConfigByName, allowed: true},
		{name: "watch config by name", do: watchConfigByName, allowed: true},
		{name: "create last-applied record", do: createRecord, allowed: true},
		{name: "get last-applied record", do: getRecord, allowed: true},
		{name: "update last-applied record", do: updateRecord, allowed: true},
		// RBAC cannot limit create to a name.
		{name: "create other configmap", do: func(ctx context.Context, c kubernetes.Interface) error {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "created-by-ccm", Namespace: namespace}}
			_, err := c.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{})
			return err
		}, allowed: true},
		{name: "create lease", do: func(ctx context.Context, c kubernetes.Interface) error {
			l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: leaseName, Namespace: namespace}}
			_, err := c.CoordinationV1().Leases(namespace).Create(ctx, l, metav1.CreateOptions{})
			return err
		}, allowed: true},
		{name: "renew lease", do: func(ctx context.Context, c kubernetes.Interface) error {
			l, err := c.CoordinationV1().Leases(namespace).Get(ctx, leaseName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			l.Spec.HolderIdentity = ptr("barelb-ccm-0")
			_, err = c.CoordinationV1().Leases(namespace).Update(ctx, l, metav1.UpdateOptions{})
			return err
		}, allowed: true},
		{name: "get node", do: getNode, allowed: true},
		{name: "list nodes", do: listNodes, allowed: true},
		{name: "watch nodes", do: watchNodes, allowed: true},
		{name: "list authentication configmap by name", do: func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.CoreV1().ConfigMaps("kube-system").List(ctx, byName("extension-apiserver-authentication"))
			return err
		}, allowed: true},
		{name: "create tokenreview", do: createTokenReview, allowed: true},
		{name: "create subjectaccessreview", do: createSubjectAccessReview, allowed: true},

		{name: "get gossip key", do: getKey},
		{name: "get other secret", do: getOtherSecret},
		{name: "list secrets", do: listSecrets},
		{name: "list all secrets", do: listAllSecrets},
		{name: "get other configmap", do: getOtherConfigMap},
		{name: "list configmaps", do: listConfigMaps},
		{name: "write config", do: updateConfig},
		{name: "update other configmap", do: func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.CoreV1().ConfigMaps(namespace).Patch(ctx, "other", types.MergePatchType, []byte(`{"data":{"x":"y"}}`), metav1.PatchOptions{})
			return err
		}},
		{name: "create configmap in another namespace", do: func(ctx context.Context, c kubernetes.Interface) error {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: recordName, Namespace: appNS}}
			_, err := c.CoreV1().ConfigMaps(appNS).Create(ctx, cm, metav1.CreateOptions{})
			return err
		}},
		{name: "delete last-applied record", do: deleteRecord},
		{name: "list last-applied record by name", do: listRecordByName},
		{name: "delete service", do: deleteService},
		{name: "create service", do: createService},
		{name: "patch node", do: patchNode},
		{name: "update event", do: updateEvent("ccm")},
		{name: "list endpointslices", do: listSlices},
		{name: "get other lease", do: func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.CoordinationV1().Leases(namespace).Get(ctx, "other", metav1.GetOptions{})
			return err
		}},
		{name: "list leases", do: func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.CoordinationV1().Leases(namespace).List(ctx, metav1.ListOptions{})
			return err
		}},
		{name: "get lease in kube-system", do: func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.CoordinationV1().Leases("kube-system").Get(ctx, leaseName, metav1.GetOptions{})
			return err
		}},
	}
}

// applyAnnounced writes the barelb.io/Announced condition the way the node
// helpers do: server-side apply on the status subresource.
func applyAnnounced(ctx context.Context, c kubernetes.Interface) error {
	cond := metav1ac.Condition().
		WithType("barelb.io/Announced").
		WithStatus(metav1.ConditionTrue).
		WithReason("Announced").
		WithMessage("node-1 announces 198.51.100.1 on eth0").
		WithLastTransitionTime(metav1.Now())
	ac := corev1ac.Service(service, appNS).WithStatus(corev1ac.ServiceStatus().WithConditions(cond))
	_, err := c.CoreV1().Services(appNS).ApplyStatus(ctx, ac, metav1.ApplyOptions{FieldManager: "barelb-nodehelper", Force: true})
	return err
}

// nodehelperAccess is what barelb-nodehelper must and must not do.
func nodehelperAccess() []access {
	return []access{
		{name: "get service", do: getService, allowed: true},
		{name: "list services", do: listServices, allowed: true},
		{name: "watch services", do: watchServices, allowed: true},
		{name: "apply announced condition", do: applyAnnounced, allowed: true},
		{name: "get endpointslice", do: func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.DiscoveryV1().EndpointSlices(appNS).Get(ctx, slice, metav1.GetOptions{})
			return err
		}, allowed: true},
		{name: "list endpointslices", do: listSlices, allowed: true},
		{name: "watch endpointslices", do: func(ctx context.Context, c kubernetes.Interface) error {
			return watchOnce(c.DiscoveryV1().EndpointSlices("").Watch(ctx, metav1.ListOptions{}))
		}, allowed: true},
		{name: "get node", do: getNode, allowed: true},
		{name: "list nodes", do: listNodes, allowed: true},
		{name: "watch nodes", do: watchNodes, allowed: true},
		{name: "create event", do: createEvent("nodehelper"), allowed: true},
		{name: "patch event", do: patchEvent("nodehelper"), allowed: true},
		{name: "get config", do: getConfig, allowed: true},
		{name: "list config by name", do: listConfigByName, allowed: true},
		{name: "watch config by name", do: watchConfigByName, allowed: true},
		{name: "get last-applied record", do: getRecord, allowed: true},
		{name: "list last-applied record by name", do: listRecordByName, allowed: true},
		{name: "watch last-applied record by name", do: watchRecordByName, allowed: true},
		{name: "get gossip key", do: getKey, allowed: true},
		{name: "list gossip key by name", do: listKeyByName, allowed: true},
		{name: "watch gossip key by name", do: watchKeyByName, allowed: true},

		{name: "update service", do: updateService},
		{name: "patch service", do: patchService},
		{name: "delete service", do: deleteService},
		{name: "create service", do: createService},
		{name: "update service status", do: func(ctx context.Context, c kubernetes.Interface) error {
			s, err := c.CoreV1().Services(appNS).Get(ctx, service, metav1.GetOptions{})
			if err != nil {
				return err
			}
			_, err = c.CoreV1().Services(appNS).UpdateStatus(ctx, s, metav1.UpdateOptions{})
			return err
		}},
		{name: "get other secret", do: getOtherSecret},
		{name: "get secret in another namespace", do: getAppSecret},
		{name: "list secrets", do: listSecrets},
		{name: "list all secrets", do: listAllSecrets},
		{name: "write gossip key", do: updateKey},
		{name: "get other configmap", do: getOtherConfigMap},
		{name: "list configmaps", do: listConfigMaps},
		{name: "write config", do: updateConfig},
		{name: "write last-applied record", do: patchRecord},
		{name: "create configmap", do: createRecord},
		{name: "patch node", do: patchNode},
		{name: "update endpointslice", do: func(ctx context.Context, c kubernetes.Interface) error {
			_, err := c.DiscoveryV1().EndpointSlices(appNS).Patch(ctx, slice, types.MergePatchType, []byte(`{"metadata":{"labels":{"example.com/touched":"yes"}}}`), metav1.PatchOptions{})
			return err
		}},
		{name: "update event", do: updateEvent("nodehelper")},
		{name: "create lease", do: func(ctx context.Context, c kubernetes.Interface) error {
			l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "helper", Namespace: namespace}}
			_, err := c.CoordinationV1().Leases(namespace).Create(ctx, l, metav1.CreateOptions{})
			return err
		}},
		{name: "create tokenreview", do: createTokenReview},
	}
}
