//go:build race

package watchdog

// raceDetector is true when the tests run with -race, which changes how many
// allocations a call makes (sync.Pool drops items at random under it).
const raceDetector = true
