// Package namespace finds the function's Kubernetes namespace, for jwt_auth
// and for the OpenTelemetry service name.
package namespace

import (
	"fmt"
	"os"
	"strings"
)

// File holds the pod's namespace; the fallback when OPENFAAS_NAMESPACE is
// unset, as in OpenFaaS CE.
const File = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Of returns configured (OPENFAAS_NAMESPACE) when set, else the namespace
// read from file, trimmed.
func Of(configured, file string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("OPENFAAS_NAMESPACE is not set and %s can't be read: %w", file, err)
	}
	return strings.TrimSpace(string(b)), nil
}
