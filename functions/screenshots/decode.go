package screenshots

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// decodeBase64 decodes an agent's screenshot leniently, as the original's
// Buffer.from(s, "base64") accepted it: an optional data: URL prefix
// ("data:image/jpeg;base64,"), ASCII whitespace anywhere (MIME line breaks),
// the standard or the URL-safe alphabet, with or without padding. Anything
// else (stray characters, padding in the middle, a dangling sixth bit) is
// not base64 and reports false.
func decodeBase64(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 5 && strings.EqualFold(s[:5], "data:") {
		i := strings.IndexByte(s, ',')
		if i < 0 || i > 256 {
			return nil, false
		}
		s = s[i+1:]
	}
	clean := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r', '\f', '\v':
		case '-':
			clean = append(clean, '+')
		case '_':
			clean = append(clean, '/')
		default:
			clean = append(clean, c)
		}
	}
	// Padding only at the end, at most two characters.
	trimmed := bytes.TrimRight(clean, "=")
	if len(clean)-len(trimmed) > 2 || bytes.IndexByte(trimmed, '=') >= 0 {
		return nil, false
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(trimmed)))
	n, err := base64.RawStdEncoding.Decode(out, trimmed)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

// isJPEG reports whether b starts with the JPEG SOI marker and the first
// marker's 0xFF (FF D8 FF), which every JPEG/JFIF/EXIF file does.
func isJPEG(b []byte) bool { return len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF }

// sizeKB is Math.round(n / 1024), as the original computed it.
func sizeKB(n int) int { return (n + 512) / 1024 }
