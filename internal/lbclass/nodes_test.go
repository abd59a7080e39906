package lbclass

import "testing"

func TestExcludedNode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{name: "no label", want: false},
		{name: "other labels", labels: map[string]string{"a": "b"}, want: false},
		{name: "empty value", labels: map[string]string{"node.kubernetes.io/exclude-from-external-load-balancers": ""}, want: true},
		{name: "true", labels: map[string]string{"node.kubernetes.io/exclude-from-external-load-balancers": "true"}, want: true},
		{name: "false includes", labels: map[string]string{"node.kubernetes.io/exclude-from-external-load-balancers": "false"}, want: false},
		{name: "not a boolean", labels: map[string]string{"node.kubernetes.io/exclude-from-external-load-balancers": "yes please"}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExcludedNode(tt.labels); got != tt.want {
				t.Errorf("ExcludedNode(%v) = %t, want %t", tt.labels, got, tt.want)
			}
		})
	}
}
