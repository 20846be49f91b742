package dataset

import (
	"fmt"
	"strings"
)

// Class labels, in the paper's order.
const (
	Normal    = 0
	Pneumonia = 1
)

// ClassNames names the labels: ClassNames[Normal] == "normal".
var ClassNames = []string{"normal", "pneumonia"}

// classFolders are the folder names of the Kaggle release, by label.
var classFolders = []string{"NORMAL", "PNEUMONIA"}

// ParseLabel reads a label as a class name ("normal", "pneumonia", any case) or digit.
func ParseLabel(s string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "normal", "0":
		return Normal, nil
	case "pneumonia", "1":
		return Pneumonia, nil
	}
	return 0, fmt.Errorf("unknown label %q: use normal or pneumonia", s)
}
