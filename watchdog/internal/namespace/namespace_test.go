package namespace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOf(t *testing.T) {
	file := filepath.Join(t.TempDir(), "namespace")
	if got, err := Of("from-env", file); got != "from-env" || err != nil {
		t.Errorf("Of with OPENFAAS_NAMESPACE = %q, %v; want it, without reading the file", got, err)
	}
	if _, err := Of("", file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("Of without the file: %v, want an error naming it", err)
	}
	if err := os.WriteFile(file, []byte("openfaas-fn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Of("", file); got != "openfaas-fn" || err != nil {
		t.Errorf("Of from the file = %q, %v; want openfaas-fn", got, err)
	}
}
