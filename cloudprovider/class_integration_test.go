package cloudprovider_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/barelb/barelb/cloudprovider/classcontroller"
	"github.com/barelb/barelb/internal/poll"
)

// TestLoadBalancerClass runs barelb-ccm with --load-balancer-class and
// --serve-classless=false against a real apiserver: a Service of the class
// is served by the class controller (finalizer, address, Events) and
// released on deletion; a class-less Service and one of another class are
// never touched; the API refuses to switch a Service's class, so the class
// is taken on by deleting and recreating the Service.
func TestLoadBalancerClass(t *testing.T) {
	const ours, other = "example.com/barelb", "example.com/other"
	c := newCluster(t)
	c.setConfig(t, testConfig)
	c.startCCM(t, ccmOptions{extraArgs: []string{"--load-balancer-class=" + ours, "--serve-classless=false"}})
	withClass := func(class string) func(*v1.Service) {
		return func(s *v1.Service) { s.Spec.LoadBalancerClass = &class }
	}
	c.create(t, lbService("classless", nil))
	c.create(t, lbService("theirs", withClass(other)))
	c.create(t, lbService("ours", withClass(ours)))

	got := c.waitAddresses(t, "ours", 20*time.Second)
	if diff := cmp.Diff([]string{"198.51.100.0"}, got); diff != "" {
		t.Errorf("addresses of ours (-want +got):\n%s", diff)
	}
	svc, err := c.client.CoreV1().Services("test").Get(context.Background(), "ours", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(svc.Finalizers, classcontroller.Finalizer) {
		t.Errorf("ours has finalizers %v, want %s", svc.Finalizers, classcontroller.Finalizer)
	}
	c.waitEvent(t, "test", "ours", classcontroller.ReasonEnsured, "", 10*time.Second)

	untouched(t, c, "classless")
	// The API refuses a class change: the way to a class is a new Service.
	svc.Spec.LoadBalancerClass = nil
	if _, err := c.client.CoreV1().Services("test").Update(context.Background(), svc, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("changing spec.loadBalancerClass: error %v, want Invalid", err)
	}
	c.remove(t, "classless")
	c.create(t, lbService("classless", withClass(ours)))
	// ours still holds .0, so the recreated Service gets the next address.
	if diff := cmp.Diff([]string{"198.51.100.1"}, c.waitAddresses(t, "classless", 20*time.Second)); diff != "" {
		t.Errorf("addresses of the recreated Service (-want +got):\n%s", diff)
	}

	// Deleting ours releases its address (the finalizer comes off) to the
	// next Service of the class.
	c.remove(t, "ours")
	c.create(t, lbService("next", withClass(ours)))
	if diff := cmp.Diff([]string{"198.51.100.0"}, c.waitAddresses(t, "next", 20*time.Second)); diff != "" {
		t.Errorf("addresses of the Service after the release (-want +got):\n%s", diff)
	}

	// By now the controllers have seen theirs many times over.
	untouched(t, c, "theirs")
}

// untouched checks that a Service carries no status, no finalizer and no
// Event from barelb.
func untouched(t *testing.T, c *cluster, name string) {
	t.Helper()
	svc, err := c.client.CoreV1().Services("test").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Status.LoadBalancer.Ingress) != 0 || len(svc.Finalizers) != 0 {
		t.Errorf("Service %s was touched: ingress %v, finalizers %v", name, svc.Status.LoadBalancer.Ingress, svc.Finalizers)
	}
	sel := fields.Set{"involvedObject.name": name}.AsSelector().String()
	poll.For(t, 5*time.Second, "Events of "+name, func() error {
		evs, err := c.client.CoreV1().Events("test").List(context.Background(), metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return err
		}
		if len(evs.Items) != 0 {
			t.Errorf("Service %s has %d Events, want none; first: %s %q", name, len(evs.Items), evs.Items[0].Reason, evs.Items[0].Message)
		}
		return nil
	})
}
