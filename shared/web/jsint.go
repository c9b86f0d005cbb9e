package web

import "strings"

// ParseIntJS is JavaScript's parseInt(s) without a radix, which the original
// applies to query parameters such as `limit`: leading white space, an
// optional sign, "0x" for hex, then as many digits as there are. ok is false
// where parseInt gives NaN. The result saturates (callers only clamp it).
func ParseIntJS(s string) (int64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r\u00a0\ufeff\u2028\u2029")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := int64(10)
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		base, s = 16, s[2:]
	}
	var n int64
	digits := 0
	for _, c := range s {
		v := int64(-1)
		switch {
		case c >= '0' && c <= '9':
			v = int64(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			v = int64(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			v = int64(c-'A') + 10
		}
		if v < 0 {
			break
		}
		digits++
		if n < 1<<40 {
			n = n*base + v
		}
	}
	if digits == 0 {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}
