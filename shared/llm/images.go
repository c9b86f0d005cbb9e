package llm

import (
	"encoding/json"
	"path"
	"regexp"
	"strings"
)

// ScreenshotImages is the default RunConfig.ToolImages: capture_screenshot
// results carry the screenshot's public URL (`url`; per machine under
// `machines[]` in site-wide mode, or "… URL: <url>" in a text result), and
// the model is shown the picture, not just the link (E52).
func ScreenshotImages(call ToolCall, output json.RawMessage) []Image {
	if call.Name != "capture_screenshot" {
		return nil
	}
	var v any
	if json.Unmarshal(output, &v) != nil {
		return nil
	}
	// The agent's result may be JSON inside a JSON string.
	if s, ok := v.(string); ok {
		var inner any
		if json.Unmarshal([]byte(s), &inner) == nil {
			v = inner
		}
	}
	var out []Image
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if depth > 3 {
			return
		}
		switch v := v.(type) {
		case string:
			if m := urlInText.FindStringSubmatch(v); m != nil {
				out = appendImage(out, m[1])
			}
		case map[string]any:
			if u, ok := v["url"].(string); ok {
				out = appendImage(out, u)
			}
			if ms, ok := v["machines"].([]any); ok {
				for _, m := range ms {
					walk(m, depth+1)
				}
			}
		}
	}
	walk(v, 0)
	return out
}

var urlInText = regexp.MustCompile(`URL: (https?://\S+)`)

func appendImage(out []Image, u string) []Image {
	if mt, _, ok := parseDataURL(u); ok {
		return append(out, Image{URL: u, MediaType: mt})
	}
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return out
	}
	mt := "image/jpeg" // agent screenshots are JPEG
	p := u
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".png":
		mt = "image/png"
	case ".webp":
		mt = "image/webp"
	case ".gif":
		mt = "image/gif"
	}
	return append(out, Image{URL: u, MediaType: mt})
}
