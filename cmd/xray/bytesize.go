package main

import (
	"math"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"
)

// byteSizeFlag reads a size flag such as --cache-memory: 2GiB (2^31), 2GB (2*10^9),
// 512MiB, or plain bytes; empty is 0 (the library's default).
func byteSizeFlag(c *cli.Context, name string) (int64, error) {
	s := c.String(name)
	if s == "" {
		return 0, nil
	}
	n, err := humanize.ParseBytes(s)
	if err != nil || n > math.MaxInt64 {
		return 0, usagef("--%s %q: not a size; use e.g. 2GiB, 512MiB or a number of bytes", name, s)
	}
	return int64(n), nil
}
