package wire

import "encoding/json"

// TextRows decodes a JSON array of arrays of strings and numbers (a page
// of klines: 1,000 rows of 12 fields) exactly as json.Unmarshal into
// [][]Text does, in one pass without reflection. Anything it does not
// read itself (an escaped string, a nested value, a syntax error) goes to
// json.Unmarshal, whose result and error are returned.
func TextRows(body []byte) ([][]Text, error) {
	if rows, ok := scanTextRows(body); ok {
		return rows, nil
	}
	var rows [][]Text
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, err
	}
	return rows, nil
}

// scanTextRows reads body when it is, all of it, a valid array of arrays
// (or nulls) of plain strings, numbers and nulls; ok is false otherwise.
// The rows share one backing array, each capped at its length.
func scanTextRows(body []byte) (rows [][]Text, ok bool) {
	s := textScanner{b: body}
	s.space()
	if !s.take('[') {
		return nil, false
	}
	type span struct{ from, to int } // to < 0: a null row
	var spans []span
	var fields [][2]int                   // a row's values' offsets in body; [-1, -1]: null
	vals := make([]Text, 0, len(body)/12) // a field and its comma take 12 bytes or more in a kline
	s.space()
	if s.take(']') {
		return [][]Text{}, s.end()
	}
	for {
		s.space()
		sp := span{from: len(vals), to: -1}
		switch {
		case s.literal("null"):
		case s.take('['):
			// The row's fields are substrings of one string of the row: an
			// allocation a row rather than a field, and a value kept (a
			// cached candle) keeps its row alive, not the page.
			start := s.i
			fields = fields[:0]
			s.space()
			if !s.take(']') {
				for {
					s.space()
					from, to, ok := s.scalar()
					if !ok {
						return nil, false
					}
					fields = append(fields, [2]int{from, to})
					s.space()
					if s.take(']') {
						break
					}
					if !s.take(',') {
						return nil, false
					}
				}
			}
			row := string(body[start:s.i])
			for _, f := range fields {
				var v Text
				if f[0] >= 0 {
					v = Text(row[f[0]-start : f[1]-start])
				}
				vals = append(vals, v)
			}
			sp.to = len(vals)
		default:
			return nil, false
		}
		spans = append(spans, sp)
		s.space()
		if s.take(']') {
			break
		}
		if !s.take(',') {
			return nil, false
		}
	}
	if !s.end() {
		return nil, false
	}
	rows = make([][]Text, len(spans))
	for i, sp := range spans {
		switch {
		case sp.to < 0: // null: a nil row
		case sp.to == sp.from:
			rows[i] = []Text{}
		default:
			rows[i] = vals[sp.from:sp.to:sp.to]
		}
	}
	return rows, true
}

type textScanner struct {
	b []byte
	i int
}

func (s *textScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *textScanner) take(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *textScanner) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *textScanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// scalar reads a string without escapes, a number or null, and returns
// where what Text's UnmarshalJSON keeps of it lies in b: a string's raw
// contents, a number's text; -1, -1 for null (Text "").
func (s *textScanner) scalar() (from, to int, ok bool) {
	if s.literal("null") {
		return -1, -1, true
	}
	if s.take('"') {
		start := s.i
		for s.i < len(s.b) {
			switch c := s.b[s.i]; {
			case c == '"':
				s.i++
				return start, s.i - 1, true
			case c == '\\' || c < 0x20:
				return 0, 0, false // an escape (or a control byte, invalid)
			}
			s.i++
		}
		return 0, 0, false
	}
	start := s.i
	if !s.number() {
		return 0, 0, false
	}
	return start, s.i, true
}

// number reads JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *textScanner) number() bool {
	s.take('-')
	switch {
	case s.take('0'):
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.take('.') && !s.digits() {
		return false
	}
	if s.take('e') || s.take('E') {
		if !s.take('+') {
			s.take('-')
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits reads one or more digits.
func (s *textScanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}
