package xray

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestLayers keeps the import arrows pointing down, so the folder names tell where a thing
// lives: the pixel contract (with its DICOM reader), the class vocabulary and the decision
// rule import nothing of ours (the class vocabulary and the decision rule no TensorFlow either); model building knows nothing of data, export or training; what a service
// imports (savedmodels) pulls in no data ingest and no terminal packages.
func TestLayers(t *testing.T) {
	const mod = "github.com/xraylab/xray/"
	above := []string{"dataset", "tfgraph", "savedmodels", "kerasimport", "trainer", "evaluator", "cmd/"}
	rules := []struct {
		pkg       string
		forbidden []string // import path substrings
	}{
		// TensorFlow runs its one definition; DICOM files it reads through preprocess/dicom
		{"preprocess", append([]string{mod + "labels"}, prefixed(mod, above)...)},
		// DICOM reading is a parser and GDCM's codecs: no TensorFlow, nothing of ours but
		// the codec and libjpeg's colour tables (internal/gdcm, internal/jpegcolor)
		{"preprocess/dicom", join([]string{"tensorflow"}, prefixed(mod, append(slices.Clone(above), "preprocess$", "labels", "decision", "progress", "perturb",
			"serve", "explain", "predictstream", "batchpipe", "pacs", "internal/approx", "internal/atomicfile", "internal/binding", "internal/browsertest",
			"internal/buildinfo", "internal/devices", "internal/orthanctest", "internal/pyref", "internal/tensorboard", "internal/tfdist", "internal/tflog")))},
		{"labels", append([]string{"tensorflow", mod + "preprocess"}, prefixed(mod, above)...)},
		{"decision", append([]string{"tensorflow", "runtime/cgo", mod + "preprocess", mod + "labels"}, prefixed(mod, above)...)},
		{"dataset", prefixed(mod, above[1:])},
		{"dataset/loader", prefixed(mod, above[1:])}, // manifests' images to batches: preprocess, nothing of models
		{"tfgraph/...", append([]string{mod + "dataset", mod + "preprocess", mod + "labels"}, prefixed(mod, above[2:])...)},
		{"savedmodels", append([]string{"progressbar", "golang.org/x/term", "uniseg", mod + "dataset"}, prefixed(mod, above[3:])...)},
		// what the core and the SavedModel writers beside it share: nothing of the core's
		// types (metadata arrives as a value), no pixels, data or anything above
		{"savedmodels/internal/smgraph", join(prefixed(mod, append(slices.Clone(above[:1]), above[3:]...)), []string{mod + "savedmodels$", mod + "savedmodels/", mod + "preprocess", mod + "labels", mod + "progress"})},
		// adaptation and ensembles build on the core, as a service would, and on each other never
		{"savedmodels/adapt", join(prefixed(mod, above[3:]), []string{"progressbar", "golang.org/x/term", mod + "dataset", mod + "savedmodels/ensemble", mod + "serve", mod + "predictstream", mod + "batchpipe", mod + "pacs"})},
		{"savedmodels/ensemble", join(prefixed(mod, above[3:]), []string{"progressbar", "golang.org/x/term", mod + "dataset", mod + "savedmodels/adapt", mod + "serve", mod + "predictstream", mod + "batchpipe", mod + "pacs"})},
		// writing a SavedModel builds on the core's names and Metadata, as adapt and
		// ensemble do: a service may import it; it knows nothing of data, training or serving
		{"savedmodels/export", join(prefixed(mod, above[3:]), []string{"progressbar", "golang.org/x/term", mod + "dataset", mod + "savedmodels/adapt", mod + "savedmodels/ensemble", mod + "serve", mod + "predictstream", mod + "batchpipe", mod + "pacs", mod + "explain"})},
		// reports and plots from predictions: no model running, no TensorFlow, no data ingest
		{"evaluator", join([]string{"tensorflow", "runtime/cgo", mod + "preprocess", mod + "explain", mod + "perturb"}, prefixed(mod, above))},
		// running a SavedModel over a split: knows neither the shift report nor the errors page
		{"evaluator/predict", prefixed(mod, []string{"trainer", "kerasimport", "cmd/", "evaluator/shift", "evaluator/errorspage", "explain", "perturb"})},
		// the shift report and the errors page run models through predict, not each other
		{"evaluator/shift", prefixed(mod, []string{"trainer", "kerasimport", "cmd/", "evaluator/errorspage", "explain"})},
		{"evaluator/errorspage", prefixed(mod, []string{"trainer", "kerasimport", "cmd/", "evaluator/shift", "perturb"})},
		// xray compare: runs' metrics.json beside the paper's rows; like the report core it
		// runs no model (no TensorFlow), and it needs no model run, data or training
		{"evaluator/compare", join([]string{"tensorflow", "runtime/cgo", mod + "preprocess", mod + "explain", mod + "perturb"},
			prefixed(mod, []string{"dataset", "tfgraph", "savedmodels", "kerasimport", "trainer", "cmd/", "evaluator/predict", "evaluator/shift", "evaluator/errorspage"}))},
		// the arithmetic of evaluation: no TensorFlow, no plots, nothing above the class vocabulary
		{"evaluator/metrics", append([]string{"tensorflow", "runtime/cgo", "gonum.org/v1/plot", mod + "preprocess", mod + "decision"}, prefixed(mod, above)...)},
		// training needs evaluation's arithmetic (val_auc), not its files, plots or model runs
		{"trainer/...", join(prefixed(mod, []string{"evaluator$", "evaluator/predict", "evaluator/shift", "evaluator/errorspage", "evaluator/compare"}), []string{mod + "cmd/"})},
		// the cluster runtime knows TensorFlow's server, not models, data or training
		{"trainer/cluster", join(prefixed(mod, above), []string{mod + "preprocess", mod + "labels", mod + "progress"})},
		// the training step is graph ops over a model and batches (and evaluation's
		// arithmetic for val_auc): no run, files, schedule, export or cluster (no other
		// trainer package)
		{"trainer/step", join(prefixed(mod, []string{"trainer", "savedmodels", "kerasimport", "evaluator$", "cmd/"}), []string{"gonum.org/v1/plot", mod + "internal/devices"})},
		// a run's files know the loop's state, not graphs, data or devices
		{"trainer/checkpoint", prefixed(mod, []string{"dataset", "tfgraph", "savedmodels", "kerasimport", "evaluator", "cmd/", "trainer/step", "trainer/rundata", "trainer/cluster", "preprocess", "labels", "internal/devices"})},
		// (TensorBoard's event protocol types, not TensorFlow's library)
		{"trainer/history", join([]string{"github.com/wamuir/graft/tensorflow$", "runtime/cgo"}, prefixed(mod, append(slices.Clone(above), "preprocess", "labels", "trainer/")))},
		{"trainer/schedule", []string{"tensorflow", "runtime/cgo", mod}}, // arithmetic of learning rates only
		// a run's data: the manifest and its loaders, no model building or training
		{"trainer/rundata", join(prefixed(mod, above[1:]), []string{mod + "internal/devices"})},
		// pacs is a library beside serve: it runs a loaded model, ingests nothing and
		// prints nothing (no terminal packages), and never imports the test helpers.
		{"pacs", append([]string{"progressbar", "golang.org/x/term", mod + "dataset", mod + "internal/orthanctest", mod + "internal/pyref"}, prefixed(mod, above[3:])...)},
		// the DICOMweb client speaks HTTP and DICOM JSON: no models, no DICOM files, nothing of ours
		{"pacs/dicomweb", []string{"tensorflow", "suyashkumar/dicom", mod}},
		{"serve/inferencepb", []string{"tensorflow", mod}}, // generated protocol types only
		// the ways a loaded model is used run it and nothing more: no data ingest, training,
		// evaluation files or CLI, and none of them builds on another's serving or archives
		{"explain", join(prefixed(mod, above[3:]), []string{mod + "dataset", mod + "serve", mod + "predictstream", mod + "batchpipe", mod + "pacs"})},
		{"predictstream", join(prefixed(mod, above[3:]), []string{mod + "dataset", mod + "serve", mod + "batchpipe", mod + "pacs"})},
		{"serve", join(prefixed(mod, above[3:]), []string{mod + "dataset", mod + "predictstream", mod + "batchpipe", mod + "pacs"})},
		// serve's seams: the version manager knows no wire protocol; the protocols share
		// serve/protocol and the core's Backend, not each other, and never the core itself
		{"serve/versions", join(prefixed(mod, above[3:]), []string{mod + "dataset", mod + "serve$", mod + "serve/protocol", mod + "serve/kserve", mod + "serve/tfserving", mod + "serve/inferencepb", "google.golang.org/grpc"})},
		{"serve/protocol", join(prefixed(mod, above[3:]), []string{mod + "dataset", mod + "serve$", mod + "serve/kserve", mod + "serve/tfserving", mod + "serve/inferencepb", "prometheus/client_golang/prometheus/promhttp"})},
		{"serve/kserve", join(prefixed(mod, above[3:]), []string{mod + "dataset", mod + "serve$", mod + "serve/tfserving", "github.com/wamuir/graft/tensorflow/serving/apis_go_proto"})},
		{"serve/tfserving", join(prefixed(mod, above[3:]), []string{mod + "dataset", mod + "serve$", mod + "serve/kserve", mod + "serve/inferencepb"})},
		{"batchpipe", join(prefixed(mod, above[3:]), []string{mod + "dataset", mod + "serve", mod + "pacs"})},
		{"kerasimport", join(prefixed(mod, above[4:]), []string{mod + "dataset", mod + "serve", mod + "predictstream", mod + "batchpipe", mod + "pacs"})},
		// the progress contract and the internal helpers sit below everything
		{"progress", []string{"tensorflow", "runtime/cgo", mod}},
		{"internal/gdcm", []string{"tensorflow", mod}}, // a codec knows no DICOM files and nothing of ours
		{"internal/...", join(prefixed(mod, above), prefixed(mod, []string{"preprocess", "labels", "decision", "progress", "serve", "explain", "predictstream", "batchpipe", "pacs"}))},
		{"perturb", append([]string{mod + "labels", mod + "preprocess"}, prefixed(mod, above)...)}, // pixels in, pixels out
	}
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", "./"+r.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps ./%s: %v", r.pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) == 0 {
			t.Fatalf("go list -deps ./%s printed nothing", r.pkg)
		}
		own := strings.TrimSuffix(mod+r.pkg, "/...")
		for _, d := range deps {
			for _, bad := range r.forbidden {
				if forbids(d, bad) && !strings.HasPrefix(d, own) {
					t.Errorf("%s depends on %s", r.pkg, d)
				}
			}
		}
	}
}

// forbids says whether dependency d matches a forbidden entry: a substring, or with a
// trailing "$" exactly that package (and not the packages below it).
func forbids(d, bad string) bool {
	if exact, ok := strings.CutSuffix(bad, "$"); ok {
		return d == exact
	}
	return strings.Contains(d, bad)
}

// TestLayersWholeModule checks what holds for every package at once: each library
// package has a TestLayers rule, only cmd/xray and bench draw progress bars, and only
// batchpipe (and the programs that run it) pulls in Apache Beam, whose dependencies a
// service should not carry.
func TestLayersWholeModule(t *testing.T) {
	const mod = "github.com/xraylab/xray"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	ruled := []string{"preprocess", "labels", "decision", "dataset", "tfgraph", "savedmodels", "evaluator", "trainer", "pacs",
		"explain", "predictstream", "serve", "batchpipe", "kerasimport", "progress", "internal", "perturb"}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < len(ruled) {
		t.Fatalf("go list ./... printed %d packages", len(lines))
	}
	for _, line := range lines {
		fields := strings.Fields(line)
		rel := strings.TrimPrefix(strings.TrimPrefix(fields[0], mod), "/")
		program := rel == "" || strings.HasPrefix(rel, "cmd/") || strings.HasPrefix(rel, "bench/") || strings.HasPrefix(rel, "examples/")
		if !program && !slices.ContainsFunc(ruled, func(r string) bool { return rel == r || strings.HasPrefix(rel, r+"/") }) {
			t.Errorf("%s has no TestLayers rule: add one saying what it may not import", rel)
		}
		for _, d := range fields[1:] {
			if !program && strings.Contains(d, "github.com/schollz/progressbar") {
				t.Errorf("%s depends on %s: libraries report through progress.Func; only cmd/xray draws bars", rel, d)
			}
			if !program && rel != "batchpipe" && strings.HasPrefix(d, "github.com/apache/beam") {
				t.Errorf("%s depends on %s: only batchpipe may import Apache Beam", rel, d)
				break
			}
		}
	}
}

// join is a new slice of a's and b's entries (append on a shared slice would alias).
func join(a, b []string) []string { return append(slices.Clone(a), b...) }

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}
