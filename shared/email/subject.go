package email

import (
	"strings"
	"unicode"
)

// CleanSubject makes s safe as a Subject header: control characters
// (CR/LF included, so no header injection) become spaces, runs of white
// space collapse to one space, and the ends are trimmed.
func CleanSubject(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
