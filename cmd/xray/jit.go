package main

import "github.com/urfave/cli/v2"

// jitFlag is --jit, for train, predict and serve: XLA's JIT, off by default
// until measured faster here.
func jitFlag() cli.Flag {
	return &cli.BoolFlag{Name: "jit", Usage: "compile the network with XLA (TensorFlow's global JIT); fails if the linked TensorFlow lacks XLA", EnvVars: env("JIT")}
}
