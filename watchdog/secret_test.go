package watchdog

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretsRead(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"api-key":       "s3cret\n",
		"no-newline":    "s3cret",
		"two-newlines":  "s3cret\n\n",
		"crlf":          "s3cret\r\n",
		"empty":         "",
		"multi.line_v2": "line 1\nline 2\n",
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "a-folder"), 0o755)
	nameErr := `: want a file name in the secrets folder: letters, digits, '-', '_' and '.', not starting with ".."`
	tests := []struct {
		name, want, err string
		notExist        bool
	}{
		{"api-key", "s3cret", "", false},
		{"no-newline", "s3cret", "", false},
		{"two-newlines", "s3cret\n", "", false},
		{"crlf", "s3cret", "", false},
		{"empty", "", "", false},
		{"multi.line_v2", "line 1\nline 2", "", false},
		{"missing", "", `secret "missing": open ` + filepath.Join(dir, "missing") + ": no such file or directory (not among the function's secrets: list it under secrets in stack.yaml)", true},
		{"a-folder", "", `secret "a-folder": read ` + filepath.Join(dir, "a-folder") + ": is a directory", false},
		{"", "", `secret name ""` + nameErr, false},
		{"../etc/passwd", "", `secret name "../etc/passwd"` + nameErr, false},
		{"/etc/passwd", "", `secret name "/etc/passwd"` + nameErr, false},
		{"sub/api-key", "", `secret name "sub/api-key"` + nameErr, false},
		{"..", "", `secret name ".."` + nameErr, false},
		{".", "", `secret name "."` + nameErr, false},
		{"..data", "", `secret name "..data"` + nameErr, false},
		{`..\x`, "", `secret name "..\\x"` + nameErr, false},
		{"api key", "", `secret name "api key"` + nameErr, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Secrets{Dir: dir}.Read(tt.name)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Errorf("Read(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
				}
				return
			}
			if err == nil || err.Error() != tt.err {
				t.Errorf("Read(%q) = %q, %v\nwant error %s", tt.name, got, err, tt.err)
			}
			if errors.Is(err, fs.ErrNotExist) != tt.notExist {
				t.Errorf("Read(%q): errors.Is(err, fs.ErrNotExist) = %v, want %v", tt.name, !tt.notExist, tt.notExist)
			}
		})
	}
}

func TestSecretsDirMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "none")
	_, err := Secrets{Dir: dir}.Read("api-key")
	want := `secret "api-key": open ` + filepath.Join(dir, "api-key") + ": no such file or directory (no secrets folder " + dir +
		": list the secret under the function's secrets in stack.yaml; outside a container set secret_mount_path to a folder such as .secrets)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

// Kubernetes mounts a secret volume as timestamped folders behind a ..data
// symlink, each key a symlink through ..data, and rotates by swapping
// ..data in one rename. Each Read sees the current version.
func TestSecretsRotationBySymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	version := func(name, value string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "api-key"), []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_01_02_10_00_00.1", "first\n")
	if err := os.Symlink(filepath.Join("..data", "api-key"), filepath.Join(dir, "api-key")); err != nil {
		t.Fatal(err)
	}
	s := Secrets{Dir: dir}
	if v, err := s.Read("api-key"); err != nil || v != "first" {
		t.Fatalf("before rotation: %q, %v", v, err)
	}
	version("..2026_01_03_10_00_00.2", "second\n")
	if err := os.RemoveAll(filepath.Join(dir, "..2026_01_02_10_00_00.1")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Read("api-key"); err != nil || v != "second" {
		t.Errorf("after rotation: %q, %v; want second", v, err)
	}
}

// Secret reads secret_mount_path on each call, DefaultSecretsDir when unset.
func TestSecretFromEnv(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "token"), []byte("abc\n"), 0o600)
	t.Setenv(SecretsDirEnv, dir)
	if v, err := Secret(context.Background(), "token"); err != nil || v != "abc" {
		t.Errorf("Secret with %s=%s: %q, %v", SecretsDirEnv, dir, v, err)
	}
	t.Setenv(SecretsDirEnv, "")
	_, err := Secret(context.Background(), "token-that-does-not-exist")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(DefaultSecretsDir, "token-that-does-not-exist")) {
		t.Errorf("Secret without %s: %v, want the default path tried", SecretsDirEnv, err)
	}
}
