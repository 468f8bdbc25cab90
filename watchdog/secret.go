package watchdog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultSecretsDir is where faas-netes and faasd mount a function's
// secrets, one file per secret, and where faas-cli local-run mounts the
// stack's .secrets folder.
const DefaultSecretsDir = "/var/openfaas/secrets"

// SecretsDirEnv names the folder Secret reads instead of DefaultSecretsDir,
// as in openfaas/go-sdk: for a run outside a container, such as
// secret_mount_path=.secrets beside stack.yaml. It is one of the watchdog's
// settings (Config.SecretsDir), so watchdogtest.New takes it too.
const SecretsDirEnv = "secret_mount_path"

// Secret returns the OpenFaaS secret name: the content of the file of that
// name in the secrets folder, less one trailing newline, which editors and
// echo add. The folder is DefaultSecretsDir, or the one SecretsDirEnv names
// in the configuration of the watchdog running the code whose context is
// ctx (a call's, or a hook's or readiness check's), so a test server's
// setting wins for the function it serves; with any other context, the
// process environment's. It reads the file on every call, so a secret
// Kubernetes rotates in place is seen at once; cache it yourself if a call
// can't afford the read.
//
// A missing secret's error names the secret and the path tried and matches
// fs.ErrNotExist. Names that aren't a plain file name (empty, with '/', or
// starting with "..", as Kubernetes' own ..data does) are refused.
func Secret(ctx context.Context, name string) (string, error) {
	if sc := scopeFrom(ctx); sc != nil {
		return sc.secrets.Read(name)
	}
	return Secrets{Dir: os.Getenv(SecretsDirEnv)}.Read(name)
}

// Secrets reads secrets from a folder laid out as OpenFaaS mounts them; a
// test points Dir at a temporary folder.
type Secrets struct {
	Dir string // DefaultSecretsDir when empty; a relative path is from the working directory
}

// Read is Secret from s.Dir.
func (s Secrets) Read(name string) (string, error) {
	dir := s.Dir
	if dir == "" {
		dir = DefaultSecretsDir
	}
	if err := checkSecretName(name); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("secret %q: %w%s", name, err, secretHint(dir, err))
	}
	v := string(b)
	if strings.HasSuffix(v, "\r\n") {
		return v[:len(v)-2], nil
	}
	return strings.TrimSuffix(v, "\n"), nil
}

// checkSecretName keeps a name inside the folder: Kubernetes secret keys are
// letters, digits, '-', '_' and '.', so anything else is a mistake or an
// attempt to read another file.
func checkSecretName(name string) error {
	ok := name != "" && name != "." && !strings.HasPrefix(name, "..")
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("secret name %q: want a file name in the secrets folder: letters, digits, '-', '_' and '.', not starting with \"..\"", name)
	}
	return nil
}

// secretHint says what to do about a missing secret.
func secretHint(dir string, err error) string {
	if !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if _, statErr := os.Stat(dir); statErr != nil {
		return fmt.Sprintf(" (no secrets folder %s: list the secret under the function's secrets in stack.yaml; outside a container set %s to a folder such as .secrets)", dir, SecretsDirEnv)
	}
	return " (not among the function's secrets: list it under secrets in stack.yaml)"
}
