package spool

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"reflect"
)

// A record's payload is the gob encoding of its rows: a slice of its
// table's row type, as Append was given it (decimals have their own
// marshalers). The spool knows no row type: the reader names the one to
// decode into, by table (tables.NewRows).

// encodeRows returns the number of rows and the payload of a record
// holding rows.
func encodeRows(rows any) (int, []byte, error) {
	v := reflect.ValueOf(rows)
	if v.Kind() != reflect.Slice {
		return 0, nil, fmt.Errorf("%w: %T is not a slice", ErrUnknownRows, rows)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(rows); err != nil {
		return 0, nil, fmt.Errorf("%w: encoding %T: %w", ErrUnknownRows, rows, err)
	}
	return v.Len(), buf.Bytes(), nil
}

// decodeRows decodes a payload into the slice that rowsOf returns a
// pointer to for table, and returns that slice.
func decodeRows(table string, payload []byte, rowsOf func(table string) any) (any, error) {
	into := rowsOf(table)
	if into == nil {
		return nil, fmt.Errorf("%w: rows of unknown table %q", ErrCorrupt, table)
	}
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(into); err != nil {
		return nil, fmt.Errorf("%w: decoding %s rows: %w", ErrCorrupt, table, err)
	}
	return reflect.ValueOf(into).Elem().Interface(), nil
}
