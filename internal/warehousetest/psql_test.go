package warehousetest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// What psql does to the files in sql/ before the server sees them, for the
// subset of psql they use: \ir includes, \set, \if :{?var} / \else /
// \endif, and :'var', :"var" and :var interpolation outside literals,
// identifiers, comments and dollar quotes. Any other meta-command is an
// error, so that a file using more of psql than this is noticed.

var errPsql = errors.New("psql script")

// expandPsql reads the script at path with vars as given by psql -v (they
// are updated by \set) and returns the SQL psql would send.
func expandPsql(path string, vars map[string]string) (string, error) {
	var out strings.Builder
	if err := runPsql(path, vars, &out, 0); err != nil {
		return "", err
	}
	return interpolate(out.String(), vars), nil
}

func runPsql(path string, vars map[string]string, out *strings.Builder, depth int) error {
	if depth > 8 {
		return fmt.Errorf("%w: %s: includes nested too deep", errPsql, path)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %w", errPsql, err)
	}
	// active[i]: whether the i-th open \if branch is being executed.
	var active []bool
	running := func() bool {
		for _, a := range active {
			if !a {
				return false
			}
		}
		return true
	}
	for n, line := range strings.Split(string(text), "\n") {
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(trimmed, `\`) {
			if running() {
				out.WriteString(line)
				out.WriteByte('\n')
			}
			continue
		}
		where := fmt.Sprintf("%s:%d", path, n+1)
		args := psqlArgs(interpolateMeta(trimmed[1:], vars))
		if len(args) == 0 {
			return fmt.Errorf("%w: %s: empty meta-command", errPsql, where)
		}
		switch cmd := args[0]; cmd {
		case "if":
			if len(args) != 2 {
				return fmt.Errorf("%w: %s: \\if takes one value", errPsql, where)
			}
			v, ok := psqlBool(args[1])
			if !ok {
				return fmt.Errorf("%w: %s: \\if %q is not a boolean", errPsql, where, args[1])
			}
			active = append(active, v)
		case "else":
			if len(active) == 0 {
				return fmt.Errorf("%w: %s: \\else without \\if", errPsql, where)
			}
			active[len(active)-1] = !active[len(active)-1]
		case "endif":
			if len(active) == 0 {
				return fmt.Errorf("%w: %s: \\endif without \\if", errPsql, where)
			}
			active = active[:len(active)-1]
		case "set":
			if len(args) < 2 {
				return fmt.Errorf("%w: %s: \\set needs a name", errPsql, where)
			}
			if running() {
				vars[args[1]] = strings.Join(args[2:], "")
			}
		case "ir":
			if len(args) != 2 {
				return fmt.Errorf("%w: %s: \\ir takes one file", errPsql, where)
			}
			if running() {
				if err := runPsql(filepath.Join(filepath.Dir(path), args[1]), vars, out, depth+1); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("%w: %s: meta-command \\%s is not understood by this test", errPsql, where, cmd)
		}
	}
	if len(active) != 0 {
		return fmt.Errorf("%w: %s: \\if without \\endif", errPsql, path)
	}
	return nil
}

// psqlArgs splits a meta-command line into words; single quotes group
// (a doubled quote stands for one) and are removed, as psql does for \set
// values.
func psqlArgs(s string) []string {
	var args []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\'' && i+1 < len(s) && s[i+1] == '\'':
			cur.WriteByte('\'')
			i++
		case c == '\'':
			quoted = !quoted
			inWord = true
		case !quoted && (c == ' ' || c == '\t'):
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args
}

// interpolateMeta expands :{?name} (TRUE when name is set) and :name in a
// meta-command line.
func interpolateMeta(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == ':' && strings.HasPrefix(s[i:], ":{?") {
			if end := strings.IndexByte(s[i:], '}'); end > 0 {
				_, ok := vars[s[i+3:i+end]]
				b.WriteString(strings.ToUpper(fmt.Sprint(ok)))
				i += end
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return interpolate(b.String(), vars)
}

func psqlBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "on", "1", "yes", "t", "y":
		return true, true
	case "false", "off", "0", "no", "f", "n":
		return false, true
	}
	return false, false
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// interpolate replaces :'name', :"name" and :name of set variables in SQL
// text, leaving literals, quoted identifiers, comments, dollar-quoted
// bodies and :: casts alone. Unset variables stay as written (psql then
// sends them and the server reports a syntax error).
func interpolate(sql string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(sql) {
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			b.WriteString(sql[i:min(j+1, len(sql))])
			i = j + 1
		case strings.HasPrefix(sql[i:], "--"):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				j = len(sql) - i
			}
			b.WriteString(sql[i : i+j])
			i += j
		case strings.HasPrefix(sql[i:], "/*"):
			j := strings.Index(sql[i+2:], "*/")
			end := len(sql)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(sql[i:end])
			i = end
		case c == '$' && (i == 0 || !isIdentByte(sql[i-1])):
			// A dollar quote: $tag$ ... $tag$.
			j := i + 1
			for j < len(sql) && isIdentByte(sql[j]) && sql[j] != '$' {
				j++
			}
			if j < len(sql) && sql[j] == '$' {
				tag := sql[i : j+1]
				end := strings.Index(sql[j+1:], tag)
				stop := len(sql)
				if end >= 0 {
					stop = j + 1 + end + len(tag)
				}
				b.WriteString(sql[i:stop])
				i = stop
				continue
			}
			b.WriteByte(c)
			i++
		case c == ':' && strings.HasPrefix(sql[i:], "::"):
			b.WriteString("::")
			i += 2
		case c == ':' && i+1 < len(sql) && (sql[i+1] == '\'' || sql[i+1] == '"'):
			q := sql[i+1]
			end := strings.IndexByte(sql[i+2:], q)
			if end < 0 {
				b.WriteByte(c)
				i++
				continue
			}
			name := sql[i+2 : i+2+end]
			v, ok := vars[name]
			if !ok {
				b.WriteString(sql[i : i+3+end])
			} else if q == '\'' {
				b.WriteString(quoteLiteral(v))
			} else {
				b.WriteString(`"` + strings.ReplaceAll(v, `"`, `""`) + `"`)
			}
			i += 3 + end
		case c == ':' && i+1 < len(sql) && isIdentByte(sql[i+1]):
			j := i + 1
			for j < len(sql) && isIdentByte(sql[j]) {
				j++
			}
			if v, ok := vars[sql[i+1:j]]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(sql[i:j])
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// quoteLiteral quotes as psql's :'var' does with standard_conforming_strings
// on: quotes doubled, and an E-prefixed literal when there are backslashes.
func quoteLiteral(v string) string {
	q := "'" + strings.ReplaceAll(v, "'", "''") + "'"
	if strings.Contains(v, `\`) {
		return "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}

func TestInterpolate(t *testing.T) {
	vars := map[string]string{"ex": "o'kx", "n": "5", "col": `we"ird`, "path": `a\b`}
	for _, tc := range []struct{ in, want string }{
		{"SELECT :'ex'", "SELECT 'o''kx'"},
		{"SELECT :n::int, :\"col\"", `SELECT 5::int, "we""ird"`},
		{"SELECT ':ex', \":ex\" -- :ex\n/* :ex */", "SELECT ':ex', \":ex\" -- :ex\n/* :ex */"},
		{"SELECT $$ :ex $$, $q$:n$q$, :n", "SELECT $$ :ex $$, $q$:n$q$, 5"},
		{"SELECT :'missing', :missing", "SELECT :'missing', :missing"},
		{"SELECT :'path'", `SELECT E'a\\b'`},
		{"SELECT x::timestamptz", "SELECT x::timestamptz"},
	} {
		require.Equal(t, tc.want, interpolate(tc.in, vars), tc.in)
	}
}

func TestExpandPsql(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "d.psql"), []byte(
		"\\if :{?a}\n\\else\n\\set a 'one two'\n\\endif\n\\set b x\n"), 0o600))
	main := filepath.Join(dir, "q.sql")
	require.NoError(t, os.WriteFile(main, []byte("\\ir d.psql\nSELECT :'a', :'b';\n"), 0o600))

	got, err := expandPsql(main, map[string]string{})
	require.NoError(t, err)
	require.Equal(t, "\nSELECT 'one two', 'x';\n\n", got)

	got, err = expandPsql(main, map[string]string{"a": "given"})
	require.NoError(t, err)
	require.Equal(t, "\nSELECT 'given', 'x';\n\n", got, "a -v value wins over the default")

	bad := filepath.Join(dir, "bad.sql")
	require.NoError(t, os.WriteFile(bad, []byte("\\gexec\n"), 0o600))
	_, err = expandPsql(bad, map[string]string{})
	require.ErrorIs(t, err, errPsql)
}
