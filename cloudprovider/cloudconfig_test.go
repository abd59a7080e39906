package cloudprovider

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCloudConfig(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    CloudConfig
		wantErr string
	}{
		{name: "empty", in: "", want: DefaultCloudConfig()},
		{
			name: "yaml, partial",
			in:   "configMap:\n  namespace: metallb-system\n",
			want: CloudConfig{ConfigMap: ConfigMapRef{Namespace: "metallb-system", Name: "config", Key: "config"}},
		},
		{
			name: "json",
			in:   `{"configMap": {"namespace": "a", "name": "b", "key": "c.yaml"}}`,
			want: CloudConfig{ConfigMap: ConfigMapRef{Namespace: "a", Name: "b", Key: "c.yaml"}},
		},
		{name: "unknown field", in: "configmap:\n  name: x\n", wantErr: `unknown field "configmap"`},
		{name: "unknown nested field", in: "configMap:\n  nmae: x\n", wantErr: `unknown field "configMap.nmae"`},
		{name: "bad namespace", in: "configMap:\n  namespace: Not_Valid\n", wantErr: `configMap.namespace "Not_Valid"`},
		{name: "bad key", in: "configMap:\n  key: a/b\n", wantErr: `configMap.key "a/b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCloudConfig(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCloudConfig() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCloudConfig() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCloudConfig() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCloudConfigNil(t *testing.T) {
	got, err := ParseCloudConfig(nil)
	if err != nil {
		t.Fatalf("ParseCloudConfig(nil) error = %v", err)
	}
	if diff := cmp.Diff(DefaultCloudConfig(), got); diff != "" {
		t.Errorf("ParseCloudConfig(nil) (-want +got):\n%s", diff)
	}
}

// FuzzParseCloudConfig: the --cloud-config file never panics the parser, and what it
// accepts is complete.
func FuzzParseCloudConfig(f *testing.F) {
	f.Add([]byte("configMap:\n  namespace: metallb-system\n  name: config\n  key: config\n"))
	f.Add([]byte(`{"configMap": {"key": "c.yaml"}}`))
	f.Add([]byte("configMap: [1, 2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cc, err := ParseCloudConfig(bytes.NewReader(data))
		if err != nil {
			return
		}
		if cc.ConfigMap.Namespace == "" || cc.ConfigMap.Name == "" || cc.ConfigMap.Key == "" {
			t.Fatalf("ParseCloudConfig(%q) = %+v, with an empty field", data, cc)
		}
	})
}
