// Package pairphrase makes and checks the three-word pair phrases of the
// device-code pairing flow (api.md §1.8, X01–X03): "word-word-word" drawn from
// an embedded list of 2048 short, common, lower-case English words (our own
// list; homophones and British/American spelling pairs left out so a phrase
// read aloud is typed the same way).
package pairphrase

import (
	"crypto/rand"
	_ "embed"
	"fmt"
	"math/big"
	"strings"
)

// Words is the number of words in a phrase.
const Words = 3

// Separator joins the words of a phrase.
const Separator = "-"

//go:embed words.txt
var wordsFile string

var (
	list []string
	set  map[string]struct{}
)

func init() {
	for _, w := range strings.Fields(wordsFile) {
		if _, dup := set[w]; dup {
			panic("pairphrase: duplicate word " + w)
		}
		if set == nil {
			set = map[string]struct{}{}
		}
		set[w] = struct{}{}
		list = append(list, w)
	}
}

// List returns a copy of the word list.
func List() []string { return append([]string(nil), list...) }

// Valid reports whether w is in the word list.
func Valid(w string) bool { _, ok := set[w]; return ok }

// Generate draws a phrase of Words words with crypto/rand.
func Generate() (string, error) {
	n := big.NewInt(int64(len(list)))
	words := make([]string, Words)
	for i := range words {
		k, err := rand.Int(rand.Reader, n)
		if err != nil {
			return "", fmt.Errorf("pair phrase: %w", err)
		}
		words[i] = list[k.Int64()]
	}
	return strings.Join(words, Separator), nil
}

// Clean trims and lower-cases a phrase as typed (X03 looks phrases up
// without checking the words).
func Clean(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Normalize cleans s and checks that it is exactly Words words of the list
// joined by Separator (X02). ok is false otherwise.
func Normalize(s string) (phrase string, ok bool) {
	phrase = Clean(s)
	parts := strings.Split(phrase, Separator)
	if len(parts) != Words {
		return "", false
	}
	for _, p := range parts {
		if !Valid(p) {
			return "", false
		}
	}
	return phrase, true
}
