//go:build !race

package savedmodels_test

const raceEnabled = false
