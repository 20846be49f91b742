//go:build race

package savedmodels_test

// raceEnabled: the race detector slows Go code several times and its shadow memory
// makes RSS measurements meaningless.
const raceEnabled = true
