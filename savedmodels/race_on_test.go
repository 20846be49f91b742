//go:build race

package savedmodels

// raceEnabled: the race detector slows Go code several times and its shadow memory
// makes RSS measurements meaningless.
const raceEnabled = true
