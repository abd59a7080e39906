package keys

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/barelb/barelb/internal/gossipkey"
	"github.com/barelb/barelb/internal/kubecache"
)

// Load reads the keys from the Secret once, for start-up: a node helper
// without a key refuses to start.
func Load(ctx context.Context, client kubernetes.Interface, namespace, name string) ([][]byte, error) {
	s, err := client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to read gossip key Secret %s/%s: %w", namespace, name, err)
	}
	return fromSecret(s)
}

func fromSecret(s *corev1.Secret) ([][]byte, error) {
	keys, err := gossipkey.Parse(string(s.Data[gossipkey.DataKey]))
	if err != nil {
		return nil, fmt.Errorf("gossip key Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	return keys, nil
}

// Follower watches one Secret and calls Update with its keys whenever they
// change. An invalid or deleted Secret keeps the keys in force.
type Follower struct {
	Client          kubernetes.Interface
	Namespace, Name string
	// Update installs new keys; it is called from one goroutine and may
	// block briefly.
	Update func(keys [][]byte) error
}

// Run follows the Secret until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	log := klog.FromContext(ctx).WithValues("secret", f.Namespace+"/"+f.Name)
	// By name only: the RBAC grants this one Secret.
	factory := kubecache.ByName(f.Client, f.Namespace, f.Name)
	inf := factory.Core().V1().Secrets().Informer()
	changed := make(chan *corev1.Secret, 1)
	push := func(obj any) {
		s, ok := obj.(*corev1.Secret)
		if !ok {
			return
		}
		select {
		case <-changed:
		default:
		}
		changed <- s
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    push,
		UpdateFunc: func(_, n any) { push(n) },
		DeleteFunc: func(any) { log.Info("Gossip key Secret deleted; keeping the keys in force") },
	}); err != nil {
		return fmt.Errorf("failed to watch the gossip key Secret: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	var last string
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-changed:
			text := string(s.Data[gossipkey.DataKey])
			if text == last {
				continue
			}
			keys, err := fromSecret(s)
			if err != nil {
				log.Error(err, "Invalid gossip key Secret; keeping the keys in force")
				continue
			}
			if err := f.Update(keys); err != nil {
				log.Error(err, "Failed to install new gossip keys")
				continue
			}
			last = text
			log.Info("Gossip keys installed", "keys", len(keys))
		}
	}
}
