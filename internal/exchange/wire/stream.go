package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Streaming decode, for the large answers (every ticker of an exchange,
// up to the client's body cap): the document is read token by token, the
// rows one at a time, and only what a handler keeps stays in memory. An
// answer of many small rows, or of rows nobody asked for, costs a body's
// worth of short-lived garbage, not a slice of structs many times its size.

// Handler consumes exactly one JSON value at the decoder's position: with
// d.Decode, Each or EachKey.
type Handler func(d *json.Decoder) error

// ErrDuplicate is a row that names a key an earlier row of the same
// answer named: the answer is malformed.
var ErrDuplicate = errors.New("listed twice")

// Walk decodes body, handing the value at each path (object keys joined
// by ".", "" for the whole document) to its handler and skipping the rest
// without keeping it. A path through an array is not followed.
func Walk(body []byte, handlers map[string]Handler) error {
	d := json.NewDecoder(bytes.NewReader(body))
	if err := walk(d, "", handlers); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return ErrTrailing
	}
	return nil
}

func walk(d *json.Decoder, path string, hs map[string]Handler) error {
	if h, ok := hs[path]; ok {
		return h(d)
	}
	if !under(hs, path) {
		return Skip(d)
	}
	tok, err := d.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		for d.More() {
			kt, err := d.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			p := key
			if path != "" {
				p = path + "." + key
			}
			if err := walk(d, p, hs); err != nil {
				return err
			}
		}
		_, err = d.Token()
		return err
	case json.Delim('['):
		for d.More() {
			if err := Skip(d); err != nil {
				return err
			}
		}
		_, err = d.Token()
		return err
	}
	return nil // a scalar where an object was expected: its handlers find nothing
}

// under reports whether a handler's path goes through path.
func under(hs map[string]Handler, path string) bool {
	if path == "" {
		return len(hs) > 0
	}
	for p := range hs {
		if strings.HasPrefix(p, path+".") {
			return true
		}
	}
	return false
}

// Skip consumes one value, token by token, keeping none of it.
func Skip(d *json.Decoder) error {
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// Each consumes an array, decoding its elements one at a time into a T
// that fn reads (v is reused for the next element: fn copies what it
// keeps). null counts as an empty array.
func Each[T any](d *json.Decoder, fn func(i int, v *T) error) error {
	tok, err := d.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("want an array, got %v: %w", tok, ErrShape)
	}
	var v T
	for i := 0; d.More(); i++ {
		var zero T
		v = zero
		if err := d.Decode(&v); err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
		if err := fn(i, &v); err != nil {
			return err
		}
	}
	_, err = d.Token()
	return err
}

// EachKey consumes an object, decoding its values one at a time into a T
// that fn reads (v is reused, as in Each). null counts as an empty object.
func EachKey[T any](d *json.Decoder, fn func(key string, v *T) error) error {
	tok, err := d.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("want an object, got %v: %w", tok, ErrShape)
	}
	var v T
	for d.More() {
		kt, err := d.Token()
		if err != nil {
			return err
		}
		key, _ := kt.(string)
		var zero T
		v = zero
		if err := d.Decode(&v); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if err := fn(key, &v); err != nil {
			return err
		}
	}
	_, err = d.Token()
	return err
}

// Into is a Handler decoding the value into v.
func Into(v any) Handler {
	return func(d *json.Decoder) error { return d.Decode(v) }
}

// Seen refuses a key met twice in one answer, so that rows kept per key
// stay bounded by the keys, whatever the answer's length.
type Seen map[string]struct{}

// Add records key, or fails if it was recorded already.
func (s Seen) Add(key string) error {
	if _, dup := s[key]; dup {
		return fmt.Errorf("%q %w", key, ErrDuplicate)
	}
	s[key] = struct{}{}
	return nil
}

// ValueAt returns where the value at key of the top-level object of body
// starts, without decoding anything else of it; ok is false when there is
// no such key.
func ValueAt(body []byte, key string) (off int, ok bool, err error) {
	d := json.NewDecoder(bytes.NewReader(body))
	tok, err := d.Token()
	if err != nil {
		return 0, false, err
	}
	if tok != json.Delim('{') {
		return 0, false, fmt.Errorf("want an object, got %v: %w", tok, ErrShape)
	}
	for d.More() {
		kt, err := d.Token()
		if err != nil {
			return 0, false, err
		}
		if kt == key {
			i := skipSpace(body, int(d.InputOffset()))
			if i >= len(body) || body[i] != ':' {
				return 0, false, fmt.Errorf("%s: %w", key, ErrShape)
			}
			return skipSpace(body, i+1), true, nil
		}
		if err := Skip(d); err != nil {
			return 0, false, err
		}
	}
	return 0, false, nil
}

// EachRaw calls fn with each key of the object starting at body[off] and
// the bytes of its value, which fn may decode or not: rows nobody asked
// for cost only their key. body must be valid JSON (json.Valid); the
// object's end is returned.
func EachRaw(body []byte, off int, fn func(key string, raw []byte) error) (int, error) {
	i := skipSpace(body, off)
	if i >= len(body) || body[i] != '{' {
		return 0, fmt.Errorf("want an object: %w", ErrShape)
	}
	i = skipSpace(body, i+1)
	for i < len(body) && body[i] != '}' {
		if body[i] == ',' {
			i = skipSpace(body, i+1)
		}
		end := stringEnd(body, i)
		key := string(body[i+1 : end-1])
		if bytes.IndexByte(body[i:end], '\\') >= 0 || !utf8.Valid(body[i:end]) { // as encoding/json reads it
			if err := json.Unmarshal(body[i:end], &key); err != nil {
				return 0, err
			}
		}
		i = skipSpace(body, end)
		if i >= len(body) || body[i] != ':' {
			return 0, fmt.Errorf("%s: %w", key, ErrShape)
		}
		start := skipSpace(body, i+1)
		end = valueEnd(body, start)
		if err := fn(key, body[start:end]); err != nil {
			return 0, err
		}
		i = skipSpace(body, end)
	}
	if i >= len(body) {
		return 0, fmt.Errorf("unterminated object: %w", ErrShape)
	}
	return i + 1, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the offset after the string starting at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// valueEnd returns the offset after the value starting at b[i].
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[j])) {
		j++
	}
	return j
}
