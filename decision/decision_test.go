package decision

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xraylab/xray/internal/pyref"
)

// scoreSets are synthetic validation sets: informative, heavily tied, small, and float32.
func scoreSets() map[string]struct {
	labels []int
	scores []float64
} {
	rng := rand.New(rand.NewPCG(12, 95))
	gen := func(n int, pPos float64, score func(int) float64) ([]int, []float64) {
		l, s := make([]int, n), make([]float64, n)
		for i := range l {
			if rng.Float64() < pPos {
				l[i] = 1
			}
			s[i] = math.Min(1, math.Max(0, score(l[i])))
		}
		return l, s
	}
	informative := func(l int) float64 { return 0.4 + 0.25*float64(l) + 0.2*rng.NormFloat64() }
	out := map[string]struct {
		labels []int
		scores []float64
	}{}
	add := func(name string, l []int, s []float64) {
		out[name] = struct {
			labels []int
			scores []float64
		}{l, s}
	}
	l, s := gen(500, 0.7, informative)
	add("informative", l, s)
	l, s = gen(400, 0.5, func(l int) float64 { return math.Round(8*informative(l)) / 8 })
	add("ties", l, s)
	l, s = gen(17, 0.5, informative)
	add("small", l, s)
	l, s = gen(300, 0.3, func(l int) float64 { return float64(float32(informative(l))) })
	add("float32", l, s)
	return out
}

// bruteForce tries every distinct score as the threshold (pneumonia at score >= t):
// Youden is the largest sensitivity + specificity - 1 (highest t among equal J, to
// 1e-12), sensitivity:x the highest t whose sensitivity is at least x.
func bruteForce(labels []int, scores []float64, minSens float64) float64 {
	best, bestJ := math.NaN(), math.Inf(-1)
	bestSens := math.Inf(-1)
	for _, t := range scores {
		var tp, fn, tn, fp float64
		for i, s := range scores {
			switch {
			case labels[i] == 1 && s >= t:
				tp++
			case labels[i] == 1:
				fn++
			case s >= t:
				fp++
			default:
				tn++
			}
		}
		sens, spec := tp/(tp+fn), tn/(tn+fp)
		if minSens > 0 {
			if sens >= minSens && t > bestSens {
				bestSens = t
			}
			continue
		}
		j := sens + spec - 1
		if j > bestJ+1e-12 || (math.Abs(j-bestJ) <= 1e-12 && t > best) {
			best, bestJ = t, j
		}
	}
	if minSens > 0 {
		return bestSens
	}
	return best
}

func TestChooseMatchesBruteForceAndSklearn(t *testing.T) {
	sets := scoreSets()
	dir := t.TempDir()
	var files []string
	for name, set := range sets {
		var b strings.Builder
		b.WriteString("label,score\n")
		for i := range set.labels {
			fmt.Fprintf(&b, "%d,%s\n", set.labels[i], strconv.FormatFloat(set.scores[i], 'g', -1, 64))
		}
		p := filepath.Join(dir, name+".csv")
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	var ref map[string]struct {
		Youden      float64            `json:"youden"`
		Sensitivity map[string]float64 `json:"sensitivity"`
	}
	if err := json.Unmarshal(pyref.Run(t, pyref.Script("decision_threshold.py"), files...), &ref); err != nil {
		t.Fatal(err)
	}
	for name, set := range sets {
		want, ok := ref[name+".csv"]
		if !ok || len(want.Sensitivity) == 0 {
			t.Fatalf("%s: no reference", name)
		}
		got, err := Youden.Choose(set.labels, set.scores)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if bf := bruteForce(set.labels, set.scores, 0); got.Value != bf || got.Value != want.Youden || got.Rule != Youden {
			t.Errorf("%s: Youden threshold %v, brute force %v, sklearn roc_curve %v", name, got.Value, bf, want.Youden)
		}
		for x, w := range want.Sensitivity {
			r, err := ParseRule("sensitivity:" + x)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := strconv.ParseFloat(x, 64)
			got, err := r.Choose(set.labels, set.scores)
			if err != nil {
				t.Fatalf("%s %s: %v", name, r, err)
			}
			if bf := bruteForce(set.labels, set.scores, v); got.Value != bf || got.Value != w {
				t.Errorf("%s: %s threshold %v, brute force %v, sklearn %v", name, r, got.Value, bf, w)
			}
		}
	}
}

func TestClassAndRules(t *testing.T) {
	argmax := Threshold{}
	for _, c := range []struct {
		probs [2]float64
		want  int
	}{{[2]float64{0.5, 0.5}, 0}, {[2]float64{0.4, 0.6}, 1}, {[2]float64{0.7, 0.3}, 0}} {
		if got := argmax.Class(c.probs); got != c.want {
			t.Errorf("argmax of %v: %d, want %d (ties to normal, as np.argmax)", c.probs, got, c.want)
		}
	}
	th := Threshold{Rule: Youden, Value: 0.3}
	if th.Class([2]float64{0.7, 0.3}) != 1 || th.Class([2]float64{0.71, 0.29}) != 0 {
		t.Error("threshold 0.3: want pneumonia at p >= 0.3 only")
	}
	if got, err := Argmax.Choose(nil, nil); err != nil || got.Value != 0.5 || !got.IsArgmax() {
		t.Errorf("argmax rule: %v, %v; want 0.5", got, err)
	}
	if r, err := ParseRule(" Sensitivity:0.9 "); err != nil || r != Sensitivity(0.9) {
		t.Errorf("ParseRule: %q, %v", r, err)
	}
	for _, bad := range []string{"", "youden2", "sensitivity:", "sensitivity:0", "sensitivity:1.5", "sensitivity:x"} {
		if _, err := ParseRule(bad); err == nil || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("ParseRule(%q): err %v, want one line", bad, err)
		}
	}
	if _, err := Youden.Choose([]int{1, 1}, []float64{0.2, 0.9}); !errors.Is(err, ErrOneClass) {
		t.Errorf("one class: %v, want ErrOneClass", err)
	}
	if _, err := Youden.Choose([]int{1, 0}, []float64{0.2, 0.9}); !errors.Is(err, ErrNoSeparation) {
		t.Errorf("inverted scores: %v, want ErrNoSeparation", err)
	}
	for _, s := range [][]float64{{math.NaN(), 0.5}, {0.2, 1.5}} {
		if _, err := Youden.Choose([]int{1, 0}, s); err == nil {
			t.Errorf("scores %v: no error", s)
		}
	}
	if _, err := Youden.Choose([]int{1, 0}, []float64{0.5}); err == nil {
		t.Error("length mismatch: no error")
	}
}
