package cloudprovider

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// CloudConfig is the file given to the CCM's --cloud-config flag. Every field is optional.
//
//	configMap:
//	  namespace: barelb-system
//	  name: config
//	  key: config
type CloudConfig struct {
	// ConfigMap locates the barelb (MetalLB v0.12 format) configuration.
	ConfigMap ConfigMapRef `json:"configMap"`
}

// ConfigMapRef names a key of a ConfigMap.
type ConfigMapRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Key       string `json:"key"`
}

// The defaults of CloudConfig.
const (
	DefaultConfigMapNamespace = "barelb-system"
	DefaultConfigMapName      = "config"
	DefaultConfigMapKey       = "config"
)

// DefaultCloudConfig is the configuration used without --cloud-config.
func DefaultCloudConfig() CloudConfig {
	return CloudConfig{ConfigMap: ConfigMapRef{
		Namespace: DefaultConfigMapNamespace,
		Name:      DefaultConfigMapName,
		Key:       DefaultConfigMapKey,
	}}
}

// ParseCloudConfig reads a --cloud-config file (YAML or JSON) strictly: an unknown
// field is an error. A nil reader, or an empty file, gives the defaults.
func ParseCloudConfig(r io.Reader) (CloudConfig, error) {
	cc := DefaultCloudConfig()
	if r == nil {
		return cc, nil
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return CloudConfig{}, fmt.Errorf("failed to read the cloud config: %w", err)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return CloudConfig{}, fmt.Errorf("failed to parse the cloud config: %w", err)
	}
	var raw CloudConfig
	if len(bytes.TrimSpace(data)) > 0 {
		// Case-sensitive, and every unknown or duplicate field is reported.
		strict, err := kjson.UnmarshalStrict(js, &raw)
		if err != nil {
			return CloudConfig{}, fmt.Errorf("failed to parse the cloud config: %w", err)
		}
		if err := errors.Join(strict...); err != nil {
			return CloudConfig{}, fmt.Errorf("failed to parse the cloud config: %w", err)
		}
	}
	if raw.ConfigMap.Namespace != "" {
		cc.ConfigMap.Namespace = raw.ConfigMap.Namespace
	}
	if raw.ConfigMap.Name != "" {
		cc.ConfigMap.Name = raw.ConfigMap.Name
	}
	if raw.ConfigMap.Key != "" {
		cc.ConfigMap.Key = raw.ConfigMap.Key
	}
	if errs := validation.IsDNS1123Label(cc.ConfigMap.Namespace); len(errs) > 0 {
		return CloudConfig{}, fmt.Errorf("cloud config: configMap.namespace %q: %s", cc.ConfigMap.Namespace, errs[0])
	}
	if errs := validation.IsDNS1123Subdomain(cc.ConfigMap.Name); len(errs) > 0 {
		return CloudConfig{}, fmt.Errorf("cloud config: configMap.name %q: %s", cc.ConfigMap.Name, errs[0])
	}
	if errs := validation.IsConfigMapKey(cc.ConfigMap.Key); len(errs) > 0 {
		return CloudConfig{}, fmt.Errorf("cloud config: configMap.key %q: %s", cc.ConfigMap.Key, errs[0])
	}
	return cc, nil
}
