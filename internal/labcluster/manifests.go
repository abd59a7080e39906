package labcluster

import (
	"context"
	"path/filepath"

	"github.com/barelb/barelb/internal/controlplane"
)

// RBACFiles are the manifests that define barelb's namespace and identities.
// The lab applies exactly these, so the binaries run with the rights an
// installation grants them and no more.
var RBACFiles = []string{"namespace.yaml", "ccm-rbac.yaml", "nodehelper-rbac.yaml"}

// ApplyRBAC creates the objects of RBACFiles from dir, with the admin's rights.
func ApplyRBAC(ctx context.Context, cp *controlplane.ControlPlane, dir string) error {
	var paths []string
	for _, f := range RBACFiles {
		paths = append(paths, filepath.Join(dir, f))
	}
	return cp.Apply(ctx, paths...)
}
