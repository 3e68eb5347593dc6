package config

import (
	"log/slog"
	"net/url"
)

// Secret holds a connection URL that may carry a password. It prints with
// the password redacted everywhere (fmt, slog, JSON); Reveal gives the real
// value to the one place that dials.
type Secret string

const redacted = "xxxxx"

// Reveal returns the value with its password.
func (s Secret) Reveal() string { return string(s) }

// String redacts the password of a URL, or the whole value if it is not one.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(string(s))
	if err != nil || u.Scheme == "" {
		return redacted
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", redacted)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// LogValue keeps the password out of logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps the password out of /status and JSON.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// HasPassword reports whether the URL embeds a password.
func (s Secret) HasPassword() bool {
	u, err := url.Parse(string(s))
	if err != nil {
		return false
	}
	_, has := u.User.Password()
	return has || u.Query().Has("password")
}
