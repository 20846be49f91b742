package main

import "github.com/xraylab/xray/predictstream"

// filePrediction is one line of `xray predict`'s output; its JSON (the --json lines and
// the --out file) is predictstream.Line's, shared with xray batch.
type filePrediction = predictstream.Line
