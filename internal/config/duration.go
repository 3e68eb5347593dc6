package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as Go writes it ("5s", "1h30m") or
// in whole days ("90d"), the unit retention ages are thought in.
type Duration time.Duration

// ParseDuration accepts Go durations and "Nd".
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > int(math.MaxInt64/int64(24*time.Hour)) {
			return 0, fmt.Errorf("invalid duration %q (at most %d days)", s, math.MaxInt64/int64(24*time.Hour))
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 5s, 15m, 90d)", s)
	}
	return Duration(d), nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string {
	td := time.Duration(d)
	if td >= 24*time.Hour && td%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", td/(24*time.Hour))
	}
	return td.String()
}

// UnmarshalText lets YAML, env and flags share one syntax.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalYAML reads the same syntax as UnmarshalText, keeping where the
// value is, so that an error can name its key (see keyAt).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &posError{line: n.Line, col: n.Column, err: fmt.Errorf("want a duration such as 5s, 15m or 90d")}
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &posError{line: n.Line, col: n.Column, err: err}
	}
	*d = v
	return nil
}

// posError is a bad value at a place in the YAML text.
type posError struct {
	line, col int
	err       error
}

func (e *posError) Error() string { return e.err.Error() }

func (e *posError) Unwrap() error { return e.err }

// keyAt returns the dotted key of the value at line:col of doc, or "".
func keyAt(doc []byte, line, col int) string {
	var root yaml.Node
	if yaml.Unmarshal(doc, &root) != nil {
		return ""
	}
	var walk func(n *yaml.Node, path string) string
	walk = func(n *yaml.Node, path string) string {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if k := walk(c, path); k != "" {
					return k
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				if v.Line == line && v.Column == col {
					return p
				}
				if found := walk(v, p); found != "" {
					return found
				}
			}
		case yaml.SequenceNode:
			for i, v := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if v.Line == line && v.Column == col {
					return p
				}
				if found := walk(v, p); found != "" {
					return found
				}
			}
		}
		return ""
	}
	return walk(&root, "")
}

// MarshalText writes the same syntax back.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
