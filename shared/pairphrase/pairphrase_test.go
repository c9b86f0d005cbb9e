package pairphrase

import (
	"regexp"
	"strings"
	"testing"
)

func TestList(t *testing.T) {
	if n := len(List()); n != 2048 {
		t.Errorf("%d words, want 2048", n)
	}
	word := regexp.MustCompile(`^[a-z]{3,8}$`)
	for _, w := range List() {
		if !word.MatchString(w) {
			t.Errorf("word %q is not 3–8 lower-case letters", w)
		}
	}
	// A few homophones that must not both be in the list.
	for _, pair := range [][2]string{{"symbol", "cymbal"}, {"beach", "beech"}, {"night", "knight"}, {"idle", "idol"}} {
		if Valid(pair[0]) && Valid(pair[1]) {
			t.Errorf("homophones %v both listed", pair)
		}
	}
}

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		p, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := Normalize(p); !ok || got != p {
			t.Fatalf("generated phrase %q does not normalise to itself", p)
		}
		seen[p] = true
	}
	if len(seen) < 199 {
		t.Errorf("only %d distinct phrases in 200 draws", len(seen))
	}
}

func TestNormalize(t *testing.T) {
	w := List()
	good := w[0] + "-" + w[1] + "-" + w[2]
	for in, want := range map[string]string{
		good:                                good,
		"  " + strings.ToUpper(good) + "\n": good,
	} {
		if got, ok := Normalize(in); !ok || got != want {
			t.Errorf("Normalize(%q) = %q, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", good + "-" + w[3], w[0] + "-" + w[1], w[0] + " " + w[1] + " " + w[2], w[0] + "-" + w[1] + "-zzzzzz", w[0] + "--" + w[1], w[0] + "_" + w[1] + "_" + w[2]} {
		if _, ok := Normalize(bad); ok {
			t.Errorf("Normalize(%q) accepted", bad)
		}
	}
}
