package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// tailNote is the last lines of a service log, for an error message.
func tailNote(path string) string {
	lines := tailLines(path, 30)
	if len(lines) == 0 {
		return ""
	}
	return fmt.Sprintf("\n--- last %d lines of %s ---\n%s\n---", len(lines), path, strings.Join(lines, "\n"))
}

// tailLines returns the last n lines of the file (at most its last 64 KiB).
func tailLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	const maxTail = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxTail {
		_, _ = f.Seek(-maxTail, io.SeekEnd)
	}
	data, _ := io.ReadAll(f)
	return lastLines(string(data), n)
}

func lastLines(s string, n int) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
