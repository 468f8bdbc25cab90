package main

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/mod/semver"
)

// A release tags one commit twice with one version: moduleDir+"/vX.Y.Z",
// the tag the go command resolves for a module in a subfolder, and
// "vX.Y.Z", the ref faas-cli pulls templates at
// (lang: golang-middleware-inproc@vX.Y.Z). The templates' ref has no
// slash: faas-cli lays a template out as template/<lang>@<ref>/, and a
// slash would make that a nested folder its build cannot find.

// tagVersion is the version a release tag names: vX.Y.Z from
// moduleDir+"/vX.Y.Z" or from "vX.Y.Z".
func tagVersion(tag string) (string, error) {
	v := strings.TrimPrefix(tag, moduleDir+"/")
	if !semver.IsValid(v) || semver.Canonical(v) != v || semver.Prerelease(v) != "" || strings.Contains(v, "/") {
		return "", fmt.Errorf("%w: -tag %q: want %s/vMAJOR.MINOR.PATCH (the SDK module's tag) or vMAJOR.MINOR.PATCH (the templates' ref), e.g. %s/v0.4.0",
			errUsage, tag, moduleDir, moduleDir)
	}
	return v, nil
}

// checkTag is check, and that the release tag names the version every
// go.mod pins: the tagged commit must be the one that pins it.
func (r *repo) checkTag(tag string, stdout io.Writer) error {
	want, err := tagVersion(tag)
	if err != nil {
		return err
	}
	if err := r.check(stdout); err != nil {
		return err
	}
	pinned, err := r.pinnedVersion()
	if err != nil {
		return err
	}
	if pinned != want {
		return fmt.Errorf("tag %s names %s, but the go.mod files pin %s@%s: tag the commit that pins %s (scripts/sdk.sh bump %s, commit, then tag it)",
			tag, want, modulePath, pinned, want, want)
	}
	fmt.Fprintf(stdout, "sdk: tag %s names %s, the version every go.mod pins\n", tag, want)
	return nil
}
