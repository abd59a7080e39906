// Package lastapplied names and encodes the record of the last valid configuration barelb-ccm applied, which the CCM, the node helpers and barelbctl fall back on while the configuration ConfigMap is invalid or missing.
package lastapplied
