package tfgraph

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParamCounts returns the total, trainable and non-trainable parameter counts, as Keras's
// count_params() and summary() report them.
func (m *Model) ParamCounts() (total, trainable, nonTrainable int64) {
	for _, v := range m.Variables {
		if v.Trainable {
			trainable += v.NumElements()
		} else {
			nonTrainable += v.NumElements()
		}
	}
	return trainable + nonTrainable, trainable, nonTrainable
}

// Column layouts of Keras 3's print_summary at its default line lengths (88 for a chain
// of layers, 108 with the "Connected to" column): inner cell widths as rich renders them.
var (
	chainColumns = []summaryColumn{{"Layer (type)", 38, false}, {"Output Shape", 29, false}, {"Param #", 17, true}}
	graphColumns = []summaryColumn{{"Layer (type)", 31, false}, {"Output Shape", 27, false}, {"Param #", 17, true}, {"Connected to", 28, false}}
)

type summaryColumn struct {
	header     string
	width      int // cell width between the borders, one space of padding each side
	alignRight bool
}

// WriteSummary writes a table like Keras's model.summary(): one row per layer (name and
// class, output shape, parameter count, and "Connected to" when the model is not a
// simple chain), then the Total / Trainable / Non-trainable params lines.
func (m *Model) WriteSummary(w io.Writer) error {
	chain := isChain(m.Layers)
	cols := chainColumns
	if !chain {
		cols = graphColumns
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Model: %q\n", fmt.Sprintf("%s_%d_%s", m.Config.Arch, m.Config.InputSize, m.Config.Pool))
	b.WriteString(rule(cols, "┏", "━", "┳", "┓"))
	row := make([]string, len(cols))
	for i, c := range cols {
		row[i] = c.header
	}
	b.WriteString(tableRow(cols, row, "┃"))
	b.WriteString(rule(cols, "┡", "━", "╇", "┩"))
	for i, l := range m.Layers {
		row := []string{l.Name + " (" + l.Type + ")", kerasShape(l.OutputShape), groupThousands(l.Params)}
		if !chain {
			row = append(row, connections(l))
		}
		b.WriteString(tableRow(cols, row, "│"))
		if i < len(m.Layers)-1 {
			b.WriteString(rule(cols, "├", "─", "┼", "┤"))
		}
	}
	b.WriteString(rule(cols, "└", "─", "┴", "┘"))
	total, trainable, nonTrainable := m.ParamCounts()
	for _, line := range []struct {
		label string
		n     int64
	}{{"Total params", total}, {"Trainable params", trainable}, {"Non-trainable params", nonTrainable}} {
		fmt.Fprintf(&b, " %s: %s (%s)\n", line.label, groupThousands(line.n), readableSize(float64(line.n*4)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// isChain is Keras's sequential_like test: every layer has at most one input and no
// layer feeds two others.
func isChain(layers []LayerInfo) bool {
	used := map[string]bool{}
	for _, l := range layers {
		if len(l.Inputs) > 1 {
			return false
		}
		for _, in := range l.Inputs {
			if used[in] {
				return false
			}
			used[in] = true
		}
	}
	return true
}

func connections(l LayerInfo) string {
	if len(l.Inputs) == 0 {
		return "-"
	}
	parts := make([]string, len(l.Inputs))
	for i, in := range l.Inputs {
		parts[i] = in + "[0][0]" // every layer is called once: node 0, tensor 0
	}
	return strings.Join(parts, ", ")
}

func rule(cols []summaryColumn, left, fill, mid, right string) string {
	var b strings.Builder
	b.WriteString(left)
	for i, c := range cols {
		if i > 0 {
			b.WriteString(mid)
		}
		b.WriteString(strings.Repeat(fill, c.width))
	}
	b.WriteString(right + "\n")
	return b.String()
}

// tableRow renders one row, each cell wrapped as rich wraps it, over as many lines as the
// tallest cell needs.
func tableRow(cols []summaryColumn, cells []string, bar string) string {
	wrapped := make([][]string, len(cols))
	height := 1
	for i, c := range cols {
		wrapped[i] = wrapCell(cells[i], c.width-2)
		height = max(height, len(wrapped[i]))
	}
	var b strings.Builder
	for line := 0; line < height; line++ {
		b.WriteString(bar)
		for i, c := range cols {
			text := ""
			if line < len(wrapped[i]) {
				text = wrapped[i][line]
			}
			pad := strings.Repeat(" ", c.width-2-utf8.RuneCountInString(text))
			if c.alignRight {
				b.WriteString(" " + pad + text + " ")
			} else {
				b.WriteString(" " + text + pad + " ")
			}
			b.WriteString(bar)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// wrapCell is rich's word wrap with overflow "ellipsis": greedy on spaces; a word longer
// than the width stands alone, cut to width-1 runes plus "…".
func wrapCell(text string, width int) []string {
	var lines []string
	cur := ""
	for i, word := range strings.Split(text, " ") {
		if i > 0 && width-(utf8.RuneCountInString(cur)+1) >= utf8.RuneCountInString(word) {
			cur += " " + word
			continue
		}
		if i > 0 {
			lines = append(lines, cur)
		}
		cur = word
	}
	lines = append(lines, cur)
	for i, l := range lines {
		if r := []rune(l); len(r) > width {
			lines[i] = string(r[:width-1]) + "…"
		}
	}
	return lines
}

// kerasShape formats a shape with the batch dimension as Keras does: (None, 8, 8, 1024).
func kerasShape(shape []int64) string {
	parts := []string{"None"}
	for _, d := range shape {
		if d < 0 {
			parts = append(parts, "None")
		} else {
			parts = append(parts, strconv.FormatInt(d, 10))
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// groupThousands is Python's f"{n:,}".
func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// readableSize is Keras's readable_memory_size: bytes in 1024 steps, two decimals.
func readableSize(bytes float64) string {
	units := []string{"B", "KB", "MB", "GB", "TB", "PB"}
	for _, u := range units {
		if bytes/1024 < 1 {
			return fmt.Sprintf("%.2f %s", bytes, u)
		}
		bytes /= 1024
	}
	return fmt.Sprintf("%.2f %s", bytes, units[len(units)-1])
}
