// Package version names the build of this server. It is stamped into
// records the server writes for humans (bug reports' appVersion).
package version

// Version is this server's release. Override at build time with
//
//	-ldflags "-X github.com/owlette/server/shared/version.Version=1.2.3"
var Version = "1.0.0"
