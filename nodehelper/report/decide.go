package report

import (
	"fmt"
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/barelb/barelb/internal/contract"
	"github.com/barelb/barelb/nodehelper/announce"
	"github.com/barelb/barelb/nodehelper/election"
)

// Event is one Event to record on a Service.
type Event struct {
	// Service is the Service's "namespace/name" key.
	Service string
	// Type is corev1.EventTypeNormal or corev1.EventTypeWarning.
	Type    string
	Reason  contract.EventReason
	Message string
}

// Condition is the contract.ConditionAnnounced a Service is to have.
type Condition struct {
	// Service is the Service's "namespace/name" key.
	Service string
	Status  metav1.ConditionStatus
	Reason  contract.ConditionReason
	Message string
}

// Output is what to tell users, each list in the order decided. A Service
// it names may no longer exist: the caller skips those.
type Output struct {
	Events     []Event
	Conditions []Condition
}

func (o *Output) event(service, typ string, reason contract.EventReason, msg string) {
	o.Events = append(o.Events, Event{Service: service, Type: typ, Reason: reason, Message: msg})
}

func (o *Output) condition(service string, status metav1.ConditionStatus, reason contract.ConditionReason, msg string) {
	o.Conditions = append(o.Conditions, Condition{Service: service, Status: status, Reason: reason, Message: msg})
}

// Skip says why an address of a Service's status is not announced.
type Skip int

const (
	// SkipBGP: the address is from a BGP pool; barelb does not speak BGP.
	SkipBGP Skip = iota + 1
	// SkipNotInPool: no layer2 pool of the configuration contains the
	// address (written by hand or by a stolen token, or orphaned by a
	// configuration edit).
	SkipNotInPool
	// SkipNoConfig: no valid configuration was ever read, so no address is
	// known to be in a layer2 pool.
	SkipNoConfig
)

// Skipped is an address of a Service's status that is assigned but not
// announced, and why.
type Skipped struct {
	Service string
	Addr    netip.Addr
	Reason  Skip
	// Pool is the BGP pool, for SkipBGP.
	Pool string
}

// Outside returns the addresses of skipped outside every layer2 pool, per
// Service, in the order given.
func Outside(skipped []Skipped) map[string][]netip.Addr {
	out := map[string][]netip.Addr{}
	for _, sk := range skipped {
		if sk.Reason == SkipNotInPool || sk.Reason == SkipNoConfig {
			out[sk.Service] = append(out[sk.Service], sk.Addr)
		}
	}
	return out
}

// Reporter is the member that reports on group k: the one with the highest
// rendezvous weight, ties to the name that sorts first. Only one member
// reports each group, so N helpers do not write N copies of the same Event.
func Reporter(members []string, k election.GroupKey) string {
	best, bestW := "", uint64(0)
	for _, m := range members {
		if w := election.Weight(m, k); best == "" || w > bestW || (w == bestW && m < best) {
			best, bestW = m, w
		}
	}
	return best
}

// Node is the node that decides what to report, and the live members it
// shares the reporting of unannounced addresses with (see Reporter).
type Node struct {
	Name    string
	Members []string
}

func (n Node) reports(k election.GroupKey) bool { return Reporter(n.Members, k) == n.Name }

// Owned decides what to tell of the Services this node announces, the
// Services of groups, the groups it owns: a nodeAssigned Event and a True
// condition naming the interfaces of chosen (per address, those it is
// announced on) and the Service's addresses of outside (in no layer2 pool),
// or, when no address of the group has an interface, a NoInterface Warning
// and a False condition. A Service is told again only when its message
// changed: last holds the messages of the previous call, and the messages
// returned are the next call's last.
func (n Node) Owned(groups []election.Group, chosen map[netip.Addr][]string, outside map[string][]netip.Addr, last map[string]string) (Output, map[string]string) {
	var out Output
	now := map[string]string{}
	for _, g := range groups {
		ann := contract.Announcement{Node: n.Name}
		for _, a := range g.Addresses {
			if names := chosen[a]; len(names) > 0 {
				ann.Addresses = append(ann.Addresses, contract.AnnouncedAddress{Addr: a, Interfaces: names})
			}
		}
		msg := contract.FormatAnnouncement(ann)
		if len(ann.Addresses) == 0 {
			msg = NoInterface(n.Name, g.Addresses)
		}
		for _, key := range g.Services {
			svcMsg := msg
			if o := outside[key]; len(o) > 0 && len(ann.Addresses) > 0 {
				// Its other addresses are in no layer2 pool: say so here,
				// the one condition the Service has.
				svcMsg = contract.FormatAnnouncement(contract.Announcement{Node: ann.Node, Addresses: ann.Addresses, NotInPool: o})
			}
			now[key] = svcMsg
			if last[key] == svcMsg {
				continue
			}
			if len(ann.Addresses) == 0 {
				out.event(key, corev1.EventTypeWarning, contract.ReasonNoInterface, svcMsg)
				out.condition(key, metav1.ConditionFalse, contract.ConditionReasonNoInterface, svcMsg)
				continue
			}
			out.event(key, corev1.EventTypeNormal, contract.ReasonNodeAssigned, svcMsg)
			out.condition(key, metav1.ConditionTrue, contract.ConditionReasonAnnounced, svcMsg)
		}
	}
	return out, now
}

// Ownerless decides what to tell of the groups no node owns that this node
// reports (see Reporter): a NotAnnounced Warning and a False condition on
// each of their Services, saying why no node can announce them (excluded
// returns the nodes excluded from a group, per reason:
// election.Table.Explain). A group is told again only when its explanation
// changed: last holds the explanations of the previous call, and those
// returned are the next call's last.
func (n Node) Ownerless(groups []election.Group, excluded func(election.GroupKey) map[election.Exclusion][]string, last map[election.GroupKey]string) (Output, map[election.GroupKey]string) {
	var out Output
	now := map[election.GroupKey]string{}
	for _, g := range groups {
		if !n.reports(g.Key) {
			continue
		}
		msg := NoEligibleNode(g.Addresses, excluded(g.Key))
		now[g.Key] = msg
		if last[g.Key] == msg {
			continue
		}
		for _, key := range g.Services {
			out.event(key, corev1.EventTypeWarning, contract.ReasonNotAnnounced, msg)
			out.condition(key, metav1.ConditionFalse, contract.ConditionReasonNoEligibleNode, msg)
		}
	}
	return out, now
}

// SkippedState is what Skipped remembers between calls.
type SkippedState struct {
	// Warned holds the skipped addresses already told.
	Warned map[Skipped]bool
	// Conditions holds the condition message last asked for per Service.
	Conditions map[string]string
}

// Skipped decides what to tell of the assigned but unannounced addresses,
// skipped, once per Service, address and reason, each by the member that
// reports on it: a BGPNotSupported Warning for a BGP pool's, an
// AddressNotInPool Warning for one outside every layer2 pool (noConfig:
// no valid configuration was ever read). A Service none of whose addresses
// is announced (announced is false), and with some outside every layer2
// pool, also gets its condition False, from the member that reports its
// first such address; a Service with some announced address gets the
// owner's condition, which names the others (see Owned). last is the
// previous call's state, and the state returned the next call's last.
func (n Node) Skipped(skipped []Skipped, announced func(service string) bool, noConfig bool, last SkippedState) (Output, SkippedState) {
	var out Output
	now := SkippedState{Warned: make(map[Skipped]bool, len(last.Warned)), Conditions: make(map[string]string, len(last.Conditions))}
	for _, sk := range skipped {
		if last.Warned[sk] {
			now.Warned[sk] = true
			continue
		}
		if !n.reports(election.GroupKey(sk.Addr)) {
			continue
		}
		now.Warned[sk] = true
		if sk.Reason == SkipBGP {
			out.event(sk.Service, corev1.EventTypeWarning, contract.ReasonBGPNotSupported, contract.BGPNotSupportedMessage(sk.Addr, sk.Pool))
			continue
		}
		out.event(sk.Service, corev1.EventTypeWarning, contract.ReasonAddressNotInPool, NotInPool(sk.Reason == SkipNoConfig, []netip.Addr{sk.Addr}))
	}

	outside := Outside(skipped)
	keys := make([]string, 0, len(outside))
	for key := range outside {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		addrs := outside[key]
		if announced(key) || !n.reports(election.GroupKey(addrs[0])) {
			continue
		}
		msg := NotInPool(noConfig, addrs)
		now.Conditions[key] = msg
		if last.Conditions[key] == msg {
			continue
		}
		out.condition(key, metav1.ConditionFalse, contract.ConditionReasonAddressNotInPool, msg)
	}
	return out, now
}

// Conflict decides what to tell of an address conflict this node's
// announcer reported on services, the Services of the address's group
// (this node owns it, so it is their condition's writer): an
// AddressConflict Warning and the condition, True while it keeps the
// address, False when it withdrew or does not announce it; when it
// announces the address again, a nodeAssigned Event and, for a Service
// of announced (the messages Owned returned last), the True condition of
// that message.
func (n Node) Conflict(cf announce.Conflict, services []string, announced map[string]string) Output {
	var out Output
	msg := ConflictMessage(n.Name, cf)
	for _, key := range services {
		switch cf.Outcome {
		case announce.Kept:
			out.event(key, corev1.EventTypeWarning, contract.ReasonAddressConflict, msg)
			out.condition(key, metav1.ConditionTrue, contract.ConditionReasonAddressConflict, msg)
		case announce.Withdrawn, announce.Blocked:
			out.event(key, corev1.EventTypeWarning, contract.ReasonAddressConflict, msg)
			out.condition(key, metav1.ConditionFalse, contract.ConditionReasonAddressConflict, msg)
		case announce.Resumed:
			out.event(key, corev1.EventTypeNormal, contract.ReasonNodeAssigned, msg)
			if m, ok := announced[key]; ok {
				out.condition(key, metav1.ConditionTrue, contract.ConditionReasonAnnounced, m)
			}
		}
	}
	return out
}

// ConflictMessage states what node did about a conflict, for the Event and
// the condition.
func ConflictMessage(node string, c announce.Conflict) string {
	switch c.Outcome {
	case announce.Kept:
		return fmt.Sprintf("%s is also claimed on %s by MAC %s, which is no gossip member's: node %s has the lower MAC, keeps the address and announced it again", c.Addr, c.Interface, c.MAC, node)
	case announce.Withdrawn:
		return fmt.Sprintf("%s is also claimed on %s by MAC %s, which is no gossip member's: it has the lower MAC, so node %s withdrew the address and probes it every second", c.Addr, c.Interface, c.MAC, node)
	case announce.Blocked:
		return fmt.Sprintf("%s is in use on %s by MAC %s, which is no gossip member's: node %s does not announce it and probes it again later (1 s doubling to 1 min)", c.Addr, c.Interface, c.MAC, node)
	default:
		return fmt.Sprintf("%s, withdrawn after MAC %s claimed it on %s, is announced again by node %s: nobody else answered its probe", c.Addr, c.MAC, c.Interface, node)
	}
}
