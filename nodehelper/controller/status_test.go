package controller

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStatusWriterSetAndForget(t *testing.T) {
	w := newStatusWriter(nil)
	up := condition{status: metav1.ConditionTrue, reason: ConditionReasonAnnounced, message: "announcing 192.0.2.100 on eth0 from node n1"}
	w.written["default/a"] = up
	w.set("default/a", up) // already written: nothing pending
	w.set("default/b", up)
	w.set("default/gone", up)
	w.written["default/gone"] = condition{}
	if diff := cmp.Diff(map[string]condition{"default/b": up, "default/gone": up}, w.pending, cmp.AllowUnexported(condition{})); diff != "" {
		t.Errorf("pending (-want +got):\n%s", diff)
	}
	w.forget(func(key string) bool { return key != "default/gone" })
	if _, ok := w.pending["default/gone"]; ok {
		t.Error("forget kept a pending condition of a deleted Service")
	}
	if _, ok := w.written["default/gone"]; ok {
		t.Error("forget kept the written condition of a deleted Service")
	}
	if _, ok := w.written["default/a"]; !ok {
		t.Error("forget dropped a live Service")
	}
}
