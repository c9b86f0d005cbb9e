package email

import (
	"net/url"
	"strings"
)

// safeLink returns u when it is an absolute http(s) URL with a host, else
// "": a link in a mail must never be javascript:, data: or relative.
func safeLink(u string) string {
	u = strings.TrimSpace(u)
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || p.User != nil {
		return ""
	}
	if s := strings.ToLower(p.Scheme); s != "http" && s != "https" {
		return ""
	}
	return u
}
