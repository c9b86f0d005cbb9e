package routes

import "testing"

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		glob, path string
		want       bool
	}{
		{"/api/x/**", "/api/x", false},
		{"/api/x/**", "/api/x/y", true},
		{"/api/x/**", "/api/x/y/z", true},
		{"/api/*/y", "/api/a/y", true},
		{"/api/*/y", "/api/a/b/y", false},
		{"/api/x", "/api/x/", true},
	} {
		if got := Match(c.glob, c.path); got != c.want {
			t.Errorf("Match(%q, %q) = %v", c.glob, c.path, got)
		}
	}
}
