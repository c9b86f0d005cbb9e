// Package routes matches request paths against Firebase Hosting rewrite
// globs. The globs themselves live with each function (functions/registry);
// this is the one matcher, so Hosting, the dev server and the deploy tool
// agree on which function a path reaches.
package routes

import "strings"

// Match reports whether path matches a Hosting-style glob: "*" matches within
// one segment, "**" matches the rest of the path (one or more segments).
func Match(glob, path string) bool {
	gs := strings.Split(strings.Trim(glob, "/"), "/")
	ps := strings.Split(strings.Trim(path, "/"), "/")
	for i, g := range gs {
		if g == "**" {
			return len(ps) > i
		}
		if i >= len(ps) {
			return false
		}
		if g != "*" && g != ps[i] {
			return false
		}
	}
	return len(gs) == len(ps)
}
