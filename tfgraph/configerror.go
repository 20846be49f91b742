package tfgraph

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ConfigError reports an invalid setting of a Config (or of a configuration built on it,
// such as trainer.Config): Field is the Go field name, so that a front end can name its
// own option for it (a command-line flag, a form field).
type ConfigError struct {
	Field  string // Go field name, e.g. "InputSize"
	Value  any    // the rejected value; nil when the setting is missing
	Reason string // what is wrong and how to fix it
}

// ErrInvalidConfig matches every *ConfigError, for errors.Is.
var ErrInvalidConfig = errors.New("invalid configuration")

// Is makes every ConfigError match ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

func (e *ConfigError) Error() string {
	if e.Value == nil {
		return fieldWords(e.Field) + " " + e.Reason
	}
	return fmt.Sprintf("%s %v: %s", fieldWords(e.Field), e.Value, e.Reason)
}

// fieldWords spells a Go field name as lower-case words: "InputSize" is "input size".
func fieldWords(field string) string {
	var b strings.Builder
	rs := []rune(field)
	for i, r := range rs {
		// A capital starts a word after a lower-case letter, or ends an acronym before
		// one: "RunID" is "run id", "LRSchedule" is "lr schedule".
		lowerNext := i+1 < len(rs) && unicode.IsLower(rs[i+1])
		if i > 0 && unicode.IsUpper(r) && (!unicode.IsUpper(rs[i-1]) || lowerNext) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
