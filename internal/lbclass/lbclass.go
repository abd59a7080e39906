package lbclass

import (
	"errors"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Selector names the Services barelb serves. Its zero value is barelb's
// behaviour without flags: every class-less LoadBalancer Service, and no class.
// Both binaries must be given the same Selector (the same two flags), or the
// CCM hands out addresses that no node helper announces.
type Selector struct {
	// Class is the spec.loadBalancerClass barelb serves besides the class-less
	// Services; empty serves no class.
	Class string
	// SkipClassless leaves the class-less LoadBalancer Services to another
	// implementation (or to nobody). The flag is --serve-classless=false.
	SkipClassless bool
}

// Verdict is why a Service is or is not barelb's.
type Verdict int

const (
	// NotLoadBalancer: the Service is not of type LoadBalancer.
	NotLoadBalancer Verdict = iota
	// OtherClass: the Service names a loadBalancerClass that is not barelb's.
	OtherClass
	// ClasslessSkipped: the Service has no class and the Selector skips class-less Services.
	ClasslessSkipped
	// ServedClassless: barelb serves the Service, which has no class.
	ServedClassless
	// ServedClass: barelb serves the Service, whose class is the Selector's.
	ServedClass
)

var verdictNames = [...]string{
	NotLoadBalancer:  "NotLoadBalancer",
	OtherClass:       "OtherClass",
	ClasslessSkipped: "ClasslessSkipped",
	ServedClassless:  "ServedClassless",
	ServedClass:      "ServedClass",
}

// String returns the verdict's name, as in logs.
func (v Verdict) String() string {
	if v < 0 || int(v) >= len(verdictNames) {
		return fmt.Sprintf("Verdict(%d)", int(v))
	}
	return verdictNames[v]
}

// Served reports whether the verdict is one of barelb serving the Service.
func (v Verdict) Served() bool { return v == ServedClassless || v == ServedClass }

// Decide returns why svc is or is not served. A Service being deleted is
// judged by its spec like any other: whoever served it cleans it up.
func (s Selector) Decide(svc *v1.Service) Verdict {
	switch {
	case svc.Spec.Type != v1.ServiceTypeLoadBalancer:
		return NotLoadBalancer
	case svc.Spec.LoadBalancerClass == nil:
		if s.SkipClassless {
			return ClasslessSkipped
		}
		return ServedClassless
	case s.Class != "" && *svc.Spec.LoadBalancerClass == s.Class:
		return ServedClass
	default:
		return OtherClass
	}
}

// Serves reports whether barelb serves svc: s.Decide(svc).Served().
func (s Selector) Serves(svc *v1.Service) bool { return s.Decide(svc).Served() }

// ErrServesNothing is returned by Validate for a Selector that skips the
// class-less Services and names no class.
var ErrServesNothing = errors.New("--serve-classless=false without --load-balancer-class serves no Service")

// Validate checks that the class is one the API accepts in
// spec.loadBalancerClass (a label-style qualified name: "internal-vip" or
// "example.com/internal-vip") and that the Selector serves something.
func (s Selector) Validate() error {
	if s.Class == "" {
		if s.SkipClassless {
			return ErrServesNothing
		}
		return nil
	}
	if errs := validation.IsQualifiedName(s.Class); len(errs) > 0 {
		return fmt.Errorf("invalid --load-balancer-class %q: %s", s.Class, strings.Join(errs, "; "))
	}
	return nil
}

// String describes the Services s serves, for logs: "class-less and class
// example.com/lb", "class-less", "class example.com/lb".
func (s Selector) String() string {
	switch {
	case s.Class == "" && s.SkipClassless:
		return "none"
	case s.Class == "":
		return "class-less"
	case s.SkipClassless:
		return "class " + s.Class
	default:
		return "class-less and class " + s.Class
	}
}
