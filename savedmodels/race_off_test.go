//go:build !race

package savedmodels

const raceEnabled = false
