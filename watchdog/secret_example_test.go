package watchdog_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/inproc-go/templates/watchdog"
)

// In a handler, watchdog.Secret(r.Context(), "api-key") reads
// /var/openfaas/secrets/api-key.
// Here a Secrets value reads a folder of its own; a function's test gives
// the function its secrets with watchdogtest.Options.Secrets instead.
func ExampleSecrets_Read() {
	dir, _ := os.MkdirTemp("", "secrets")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "api-key"), []byte("s3cret\n"), 0o600)

	secrets := watchdog.Secrets{Dir: dir}
	key, err := secrets.Read("api-key")
	fmt.Printf("%q %v\n", key, err)

	_, err = secrets.Read("../../etc/passwd")
	fmt.Println(err)
	// Output:
	// "s3cret" <nil>
	// secret name "../../etc/passwd": want a file name in the secrets folder: letters, digits, '-', '_' and '.', not starting with ".."
}
