//go:build !unix

package spool

import (
	"fmt"
	"os"
)

// lockDir only creates the lock file where flock is unavailable: keep one
// process per spool directory by configuration.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening spool lock: %w", err)
	}
	return f, nil
}
