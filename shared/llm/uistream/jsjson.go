package uistream

// JavaScript-compatible JSON. The dashboard's bytes come from JSON.stringify,
// so every value we put in a frame is written the way V8 writes it:
// strings escape only '"', '\\' and control characters (not '<', '>', '&',
// U+2028 or U+2029, which Go's encoder escapes); numbers use
// Number.prototype.toString (1e+21, 1e-7, no trailing ".0"); objects that came
// from JSON.parse list integer-like keys first, in ascending order, then the
// other keys in insertion order, and a repeated key keeps its first position
// with its last value.

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as JSON.stringify writes a string. Invalid UTF-8
// becomes U+FFFD, as a TextDecoder would have read it.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendEscapedByte(dst, b)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendEscapedByte(dst []byte, b byte) []byte {
	switch b {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
}

// AppendNumber appends f as JavaScript's Number.prototype.toString writes
// it; NaN and ±Infinity become null, as in JSON.stringify.
func AppendNumber(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if f == 0 {
		return append(dst, '0') // also -0
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	// Shortest round-trip digits d1.d2d3…e±x; JavaScript picks the same
	// digits (both are "shortest, then closest").
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64)
	mant, exp := e, 0
	for i, c := range e {
		if c == 'e' {
			mant = e[:i]
			exp, _ = strconv.Atoi(string(e[i+1:]))
			break
		}
	}
	var digits [24]byte
	k := 0
	for _, c := range mant {
		if c != '.' {
			digits[k] = c
			k++
		}
	}
	ds := digits[:k]
	n := exp + 1 // value = 0.ds × 10^n
	switch {
	case k <= n && n <= 21:
		dst = append(dst, ds...)
		for i := 0; i < n-k; i++ {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, ds[:n]...)
		dst = append(dst, '.')
		dst = append(dst, ds[n:]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for i := 0; i < -n; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, ds...)
	default:
		dst = append(dst, ds[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, ds[1:]...)
		}
		dst = append(dst, 'e')
		if n-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(n-1), 10)
	}
	return dst
}

// AppendJSON appends JSON.stringify(JSON.parse(raw)): the JSON text raw
// re-serialised exactly as a JavaScript server would send it. An empty raw
// is written as null.
func AppendJSON(dst []byte, raw []byte) ([]byte, error) {
	p := jsParser{in: raw}
	p.skipSpace()
	if p.pos == len(p.in) {
		return append(dst, "null"...), nil
	}
	out, err := p.value(dst, 0)
	if err != nil {
		return dst, err
	}
	p.skipSpace()
	if p.pos != len(p.in) {
		return dst, p.errorf("unexpected data after the value")
	}
	return out, nil
}

// maxDepth bounds recursion on hostile input (V8 would throw a RangeError
// much later; nothing we relay nests this deep).
const maxDepth = 10000

type jsParser struct {
	in  []byte
	pos int
}

var errSyntax = errors.New("invalid JSON")

func (p *jsParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", errSyntax, p.pos, fmt.Sprintf(format, args...))
}

func (p *jsParser) skipSpace() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsParser) value(dst []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, p.errorf("nesting too deep")
	}
	p.skipSpace()
	if p.pos >= len(p.in) {
		return dst, p.errorf("unexpected end")
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(dst, depth)
	case c == '[':
		return p.array(dst, depth)
	case c == '"':
		return p.str(dst)
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(dst)
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(p.in)-p.pos >= len(lit) && string(p.in[p.pos:p.pos+len(lit)]) == lit {
				p.pos += len(lit)
				return append(dst, lit...), nil
			}
		}
		return dst, p.errorf("unexpected character %q", c)
	}
}

func (p *jsParser) array(dst []byte, depth int) ([]byte, error) {
	p.pos++ // '['
	dst = append(dst, '[')
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		return append(dst, ']'), nil
	}
	for first := true; ; first = false {
		if !first {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = p.value(dst, depth+1); err != nil {
			return dst, err
		}
		p.skipSpace()
		if p.pos >= len(p.in) {
			return dst, p.errorf("unterminated array")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return append(dst, ']'), nil
		default:
			return dst, p.errorf("expected , or ]")
		}
	}
}

// member is one serialised object member: key and value as output bytes.
type member struct {
	key   string // the key as written (escaped, quoted)
	value []byte
	index uint32 // array index value when isIndex
	isIdx bool
}

func (p *jsParser) object(dst []byte, depth int) ([]byte, error) {
	p.pos++ // '{'
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		return append(dst, '{', '}'), nil
	}
	var members []member
	for {
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return dst, p.errorf("expected a key")
		}
		k, err := p.str(nil)
		if err != nil {
			return dst, err
		}
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return dst, p.errorf("expected :")
		}
		p.pos++
		v, err := p.value(nil, depth+1)
		if err != nil {
			return dst, err
		}
		key := string(k)
		replaced := false
		for i := range members {
			if members[i].key == key {
				members[i].value = v
				replaced = true
				break
			}
		}
		if !replaced {
			idx, ok := arrayIndex(k)
			members = append(members, member{key: key, value: v, index: idx, isIdx: ok})
		}
		p.skipSpace()
		if p.pos >= len(p.in) {
			return dst, p.errorf("unterminated object")
		}
		if p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.in[p.pos] == '}' {
			p.pos++
			break
		}
		return dst, p.errorf("expected , or }")
	}
	dst = append(dst, '{')
	first := true
	write := func(m member) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, m.key...)
		dst = append(dst, ':')
		dst = append(dst, m.value...)
	}
	// Integer-like keys first, ascending (ECMAScript OrdinaryOwnPropertyKeys).
	var idx []member
	for _, m := range members {
		if m.isIdx {
			idx = append(idx, m)
		}
	}
	if len(idx) > 0 {
		for i := 1; i < len(idx); i++ { // insertion sort: few keys, stable
			for j := i; j > 0 && idx[j].index < idx[j-1].index; j-- {
				idx[j], idx[j-1] = idx[j-1], idx[j]
			}
		}
		for _, m := range idx {
			write(m)
		}
	}
	for _, m := range members {
		if !m.isIdx {
			write(m)
		}
	}
	return append(dst, '}'), nil
}

// arrayIndex reports whether the quoted key is a canonical array index
// ("0", "17", not "01", below 2^32-1).
func arrayIndex(quoted []byte) (uint32, bool) {
	s := quoted[1 : len(quoted)-1]
	if len(s) == 0 || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n >= math.MaxUint32 {
		return 0, false
	}
	return uint32(n), true
}

// str reads a JSON string and appends it re-escaped the JavaScript way. A
// lone surrogate escape stays an escape (lowercase), as well-formed
// JSON.stringify writes it.
func (p *jsParser) str(dst []byte) ([]byte, error) {
	p.pos++ // opening quote
	dst = append(dst, '"')
	for {
		if p.pos >= len(p.in) {
			return dst, p.errorf("unterminated string")
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			return append(dst, '"'), nil
		case c < 0x20:
			return dst, p.errorf("control character in string")
		case c == '\\':
			var err error
			if dst, err = p.escape(dst); err != nil {
				return dst, err
			}
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.in[p.pos:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\ufffd"...)
			} else {
				dst = append(dst, p.in[p.pos:p.pos+size]...)
			}
			p.pos += size
		}
	}
}

func (p *jsParser) escape(dst []byte) ([]byte, error) {
	if p.pos+1 >= len(p.in) {
		return dst, p.errorf("unterminated escape")
	}
	c := p.in[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\':
		return append(dst, '\\', c), nil
	case '/':
		return append(dst, '/'), nil
	case 'b':
		return append(dst, '\\', 'b'), nil
	case 'f':
		return append(dst, '\\', 'f'), nil
	case 'n':
		return append(dst, '\\', 'n'), nil
	case 'r':
		return append(dst, '\\', 'r'), nil
	case 't':
		return append(dst, '\\', 't'), nil
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return dst, p.errorf("bad \\u escape")
		}
		switch {
		case r < 0x20 || r == '"' || r == '\\':
			return appendEscapedByte(dst, byte(r)), nil
		case utf16.IsSurrogate(r):
			if r < 0xdc00 && p.pos+6 <= len(p.in) && p.in[p.pos] == '\\' && p.in[p.pos+1] == 'u' {
				save := p.pos
				p.pos += 2
				if lo, ok := p.hex4(); ok && lo >= 0xdc00 && lo <= 0xdfff {
					return utf8.AppendRune(dst, utf16.DecodeRune(r, lo)), nil
				}
				p.pos = save
			}
			return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf]), nil
		default:
			return utf8.AppendRune(dst, r), nil
		}
	}
	return dst, p.errorf("bad escape \\%c", c)
}

func (p *jsParser) hex4() (rune, bool) {
	if p.pos+4 > len(p.in) {
		return 0, false
	}
	var r rune
	for _, c := range p.in[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

func (p *jsParser) number(dst []byte) ([]byte, error) {
	start := p.pos
	if p.in[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	if n := digits(); n == 0 || (n > 1 && p.in[intStart] == '0') {
		return dst, p.errorf("bad number")
	}
	if p.pos < len(p.in) && p.in[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return dst, p.errorf("bad fraction")
		}
	}
	if p.pos < len(p.in) && (p.in[p.pos] == 'e' || p.in[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.in) && (p.in[p.pos] == '+' || p.in[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return dst, p.errorf("bad exponent")
		}
	}
	lit := p.in[start:p.pos]
	// Fast path: a short plain integer is already in JavaScript form.
	if len(lit) <= 15 {
		plain := true
		for _, c := range lit {
			if c == '.' || c == 'e' || c == 'E' {
				plain = false
				break
			}
		}
		if plain && string(lit) != "-0" {
			return append(dst, lit...), nil
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return dst, p.errorf("bad number")
	}
	return AppendNumber(dst, f), nil
}
