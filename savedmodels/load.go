package savedmodels

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/labels"
	"github.com/xraylab/xray/savedmodels/internal/smgraph"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Kinds of Load failure; Load's error (a *LoadError) matches one of them with errors.Is.
var (
	// ErrNotFound: no SavedModel there (the path is missing or not a directory, or has
	// no saved_model.pb). A missing path or file also matches fs.ErrNotExist.
	ErrNotFound = errors.New("no SavedModel")
	// ErrNotXray: a SavedModel, but not one savedmodels/export (or adapt, ensemble) wrote (no xray signature or metadata).
	ErrNotXray = errors.New("not an xray SavedModel")
	// ErrDamaged: an xray SavedModel that cannot be used as it is: an unparseable
	// saved_model.pb or metadata, missing or damaged variables.
	ErrDamaged = errors.New("damaged SavedModel")
)

// LoadError is the error Load returns: the directory, the kind of failure (ErrNotFound,
// ErrNotXray, ErrDamaged; nil for anything else, e.g. a permission error) and the detail,
// which says what to do.
type LoadError struct {
	Dir  string
	Kind error
	Err  error
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("load SavedModel %s: %s", e.Dir, smgraph.OneLine(e.Err.Error()))
}

// Unwrap returns Kind and Err, so errors.Is matches both (ErrNotFound and
// fs.ErrNotExist, say).
func (e *LoadError) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// loadError makes a *LoadError; the detail may wrap an error with %w.
func loadError(dir string, kind error, format string, a ...any) error {
	return &LoadError{Dir: dir, Kind: kind, Err: fmt.Errorf(format, a...)}
}

// ReadMetaGraph reads the MetaGraph tagged "serve" (its serving_default checked) and the
// metadata of the SavedModel in dir without TensorFlow, for the packages that rewrite
// SavedModels (savedmodels/adapt, savedmodels/ensemble). It checks dir before
// TensorFlow sees it, so the common mistakes get an error that says what to do: a
// *LoadError, as Load's.
func ReadMetaGraph(dir string) (*pb.MetaGraphDef, Metadata, error) {
	mg, err := parseSavedModel(dir)
	if err != nil {
		return nil, Metadata{}, err
	}
	sig := mg.SignatureDef[SignatureDefault]
	if sig == nil || sig.Inputs[InputImage] == nil || sig.Outputs[OutputProbabilities] == nil || sig.Outputs[OutputClassID] == nil {
		return nil, Metadata{}, loadError(dir, ErrNotXray, "signature %s with input %q and outputs %q, %q missing: not an xray SavedModel; export it with savedmodels/export.SavedModel",
			SignatureDefault, InputImage, OutputProbabilities, OutputClassID)
	}
	// TensorFlow's loader silently skips the restore when the checkpoint is absent, and
	// every prediction would then fail on uninitialised variables.
	if mg.GetSaverDef() != nil {
		if _, err := os.Stat(filepath.Join(dir, "variables", "variables.index")); err != nil {
			return nil, Metadata{}, loadError(dir, ErrDamaged, "no variables/variables.index: the export is incomplete; export the model again")
		}
	}
	meta, err := readMetadata(dir, mg)
	if err != nil {
		return nil, meta, err
	}
	if sh := sig.Inputs[InputImage].GetTensorShape().GetDim(); len(sh) != 4 || sh[1].Size != int64(meta.InputSize) || sh[2].Size != int64(meta.InputSize) {
		return nil, meta, loadError(dir, ErrDamaged, "metadata input size %d disagrees with the signature's input shape: export the model again", meta.InputSize)
	}
	if sh := sig.Outputs[OutputProbabilities].GetTensorShape().GetDim(); len(sh) != 2 || sh[1].Size != int64(len(meta.Classes)) {
		return nil, meta, loadError(dir, ErrDamaged, "metadata's %d class names disagree with the signature's probabilities shape: export the model again", len(meta.Classes))
	}
	return mg, meta, nil
}

// SignatureDefs reads the signatures of the SavedModel in dir (what TensorFlow Serving's
// metadata endpoint reports). Its error is a *LoadError, as Load's.
func SignatureDefs(dir string) (map[string]*pb.SignatureDef, error) {
	mg, err := parseSavedModel(dir)
	if err != nil {
		return nil, err
	}
	return mg.SignatureDef, nil
}

// parseSavedModel reads dir/saved_model.pb and returns its MetaGraph tagged "serve".
func parseSavedModel(dir string) (*pb.MetaGraphDef, error) {
	st, err := os.Stat(dir)
	if err != nil {
		kind := ErrNotFound
		if !errors.Is(err, fs.ErrNotExist) {
			kind = nil
		}
		return nil, loadError(dir, kind, "%w: give the directory savedmodels/export wrote (a run's savedmodel/)", errors.Unwrap(err))
	}
	if !st.IsDir() {
		return nil, loadError(dir, ErrNotFound, "not a directory: give the directory holding saved_model.pb")
	}
	b, err := os.ReadFile(filepath.Join(dir, "saved_model.pb"))
	if err != nil {
		hint := "give the directory holding saved_model.pb"
		if v := versionDirs(dir); len(v) > 0 {
			hint = fmt.Sprintf("this looks like a TensorFlow Serving model base: give a version directory, e.g. %s", filepath.Join(dir, v[len(v)-1]))
		}
		kind := ErrNotFound
		if !errors.Is(err, fs.ErrNotExist) {
			kind = nil
		}
		return nil, loadError(dir, kind, "no saved_model.pb (%w): %s", errors.Unwrap(err), hint)
	}
	var sm pb.SavedModel
	if err := proto.Unmarshal(b, &sm); err != nil {
		return nil, loadError(dir, ErrDamaged, "saved_model.pb is damaged (%v): export the model again", err)
	}
	for _, g := range sm.MetaGraphs {
		for _, t := range g.GetMetaInfoDef().GetTags() {
			if t == ServeTag {
				return g, nil
			}
		}
	}
	return nil, loadError(dir, ErrNotXray, "saved_model.pb has no MetaGraph tagged %q: not a serving model; export it with savedmodels/export.SavedModel", ServeTag)
}

// readMetadata reads assets.extra/xray.json, or the copy in meta_info_def.any_info when
// the file was lost (e.g. a copy tool skipped the directory).
func readMetadata(dir string, mg *pb.MetaGraphDef) (Metadata, error) {
	var meta Metadata
	b, err := os.ReadFile(filepath.Join(dir, MetadataFile))
	if err != nil {
		var s wrapperspb.StringValue
		if a := mg.GetMetaInfoDef().GetAnyInfo(); a == nil || a.UnmarshalTo(&s) != nil {
			return meta, loadError(dir, ErrNotXray, "no %s and no metadata in saved_model.pb: not an xray SavedModel; export it with savedmodels/export.SavedModel", MetadataFile)
		}
		b = []byte(s.Value)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return meta, loadError(dir, ErrDamaged, "%s: %v: export the model again", MetadataFile, err)
	}
	if _, err := labels.New(meta.Classes...); err != nil {
		return meta, loadError(dir, ErrDamaged, "%s: %v: export the model again", MetadataFile, err)
	}
	if err := meta.Preprocessor().Validate(); err != nil {
		return meta, loadError(dir, ErrDamaged, "%s: %v: export the model again", MetadataFile, err)
	}
	if err := meta.ValidateThreshold(); err != nil {
		return meta, loadError(dir, ErrDamaged, "%s: %v: export the model again", MetadataFile, err)
	}
	return meta, nil
}

// versionDirs lists numeric subdirectories holding a saved_model.pb, oldest first.
func versionDirs(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var vs []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), "saved_model.pb")); err == nil {
				vs = append(vs, n)
			}
		}
	}
	sort.Ints(vs)
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strconv.Itoa(v)
	}
	return out
}
