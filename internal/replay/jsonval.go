package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// object is a JSON object that keeps its members in recorded order, so a
// served body reads like the recorded one field for field.
type object []member

type member struct {
	Key   string
	Value any
}

// MarshalJSON writes the members in order.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.Key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.Value)
		if err != nil {
			return nil, fmt.Errorf("encoding %q: %w", m.Key, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (o object) get(key string) any {
	for _, m := range o {
		if m.Key == key {
			return m.Value
		}
	}
	return nil
}

func (o object) obj(key string) object { v, _ := o.get(key).(object); return v }
func (o object) arr(key string) []any  { v, _ := o.get(key).([]any); return v }

// set replaces a member's value, or appends the member.
func (o *object) set(key string, v any) {
	for i := range *o {
		if (*o)[i].Key == key {
			(*o)[i].Value = v
			return
		}
	}
	*o = append(*o, member{key, v})
}

// decodeJSON parses a body keeping member order and number text.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	switch d {
	case '{':
		o := object{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			o = append(o, member{kt.(string), v})
		}
		_, err = dec.Token()
		return o, err
	case '[':
		a := []any{}
		for dec.More() {
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err = dec.Token()
		return a, err
	}
	return nil, fmt.Errorf("unexpected delimiter %v", d)
}

// clone deep-copies a decoded value so templates stay untouched.
func clone(v any) any {
	switch t := v.(type) {
	case object:
		o := make(object, len(t))
		for i, m := range t {
			o[i] = member{m.Key, clone(m.Value)}
		}
		return o
	case []any:
		a := make([]any, len(t))
		for i, e := range t {
			a[i] = clone(e)
		}
		return a
	}
	return v
}

// like returns text as the same JSON type the recorded value had: a number
// stays a number and a numeric string stays a string.
func like(recorded any, text string) any {
	if _, ok := recorded.(json.Number); ok {
		return json.Number(text)
	}
	return text
}

// str returns a scalar's text.
func str(v any) string {
	switch t := v.(type) {
	case json.Number:
		return string(t)
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func num(v any) float64 {
	f, _ := strconv.ParseFloat(str(v), 64)
	return f
}

func integer(v any) int64 {
	s := str(v)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	f, _ := strconv.ParseFloat(s, 64)
	return int64(f)
}

// decimals counts the digits after the point, which is the precision the
// exchange used for that field.
func decimals(v any) int {
	s := str(v)
	if strings.ContainsAny(s, "eE") {
		return 8
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// fmtDec formats a value with a fixed number of decimals.
func fmtDec(f float64, dec int) string {
	return strconv.FormatFloat(f, 'f', dec, 64)
}

// likeDec formats f with the recorded value's precision and JSON type.
func likeDec(recorded any, f float64) any {
	return like(recorded, fmtDec(f, decimals(recorded)))
}

// shiftInt adds delta to an integer field, keeping its JSON type.
func shiftInt(recorded any, delta int64) any {
	return like(recorded, strconv.FormatInt(integer(recorded)+delta, 10))
}

func roundTo(f float64, dec int) float64 {
	p := math.Pow10(dec)
	return math.Round(f*p) / p
}
