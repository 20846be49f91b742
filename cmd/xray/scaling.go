package main

import (
	"github.com/urfave/cli/v2"

	"github.com/xraylab/xray/preprocess"
)

// scalingFlag reads --preprocess (paper, unit, imagenet or tf) as a preprocess.Scaling:
// the one place the command line parses a scaling.
func scalingFlag(c *cli.Context) (preprocess.Scaling, error) {
	var s preprocess.Scaling
	if err := s.UnmarshalText([]byte(c.String("preprocess"))); err != nil {
		return "", usagef("--preprocess: %v", err)
	}
	return s, nil
}
