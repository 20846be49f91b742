package adapt

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"time"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/savedmodels"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// adaptInto reads the images, measures the statistics pass by pass and writes the
// adapted checkpoint to tmp/variables; it returns the record and the new metadata.
func adaptInto(ctx context.Context, tmp, src string, mg *pb.MetaGraphDef, meta savedmodels.Metadata, layers []*bnLayer, images iter.Seq2[adaptInput, error], opts Options) (*savedmodels.Adaptation, savedmodels.Metadata, error) {
	fail := func(err error) (*savedmodels.Adaptation, savedmodels.Metadata, error) {
		return nil, meta, fmt.Errorf("adapt %s: %w", src, err)
	}
	pre := meta.Preprocessor()
	switch {
	case opts.DICOMWindow != nil:
		pre.Window = *opts.DICOMWindow
		meta.DICOMWindow = opts.DICOMWindow
	case meta.DICOMWindow != nil:
		pre.Window = *meta.DICOMWindow
	}
	digest, err := savedmodels.Digest(src)
	if err != nil {
		return fail(err)
	}
	cacheDir := opts.TempDir
	if cacheDir == "" {
		cacheDir = tmp
	}
	cache, imageSet, err := readImages(ctx, images, pre, cacheDir, opts)
	if err != nil {
		return fail(err)
	}
	defer cache.close()
	groups := passes(layers)
	if opts.Mode == Batch {
		all := make([]int, len(layers))
		for i := range all {
			all[i] = i
		}
		groups = [][]int{all}
	}
	opts.Log.Info("adapting", "images", cache.n, "batch_norm_layers", len(layers), "passes", len(groups), "mode", opts.Mode)
	a, err := newAdaptSession(src, mg, layers, opts.Mode == Batch, opts.SessionConfig)
	if err != nil {
		return fail(err)
	}
	defer a.sess.Close()
	done, total := 0, cache.n*len(groups)
	for p, which := range groups {
		stats, err := a.measure(ctx, cache.batches(opts.BatchSize), meta.InputSize, which, func(n int) {
			done += n
			opts.Progress.Report(progress.Event{Task: TaskStats, Done: int64(done), Total: int64(total), Unit: "img",
				Note: fmt.Sprintf("pass %d/%d", p+1, len(groups))})
		})
		if err != nil {
			return fail(err)
		}
		if err := a.assign(which, stats); err != nil {
			return fail(err)
		}
		opts.Log.Debug("adapted", "pass", p+1, "layers", len(which))
	}
	if err := os.MkdirAll(filepath.Join(tmp, "variables"), 0o755); err != nil {
		return fail(err)
	}
	if err := a.save(filepath.Join(tmp, "variables", "variables")); err != nil {
		return fail(err)
	}
	ad := &savedmodels.Adaptation{
		Mode: opts.Mode, Source: digest, Images: cache.n, ImageSet: imageSet, BatchSize: opts.BatchSize,
		Layers: len(layers), Passes: len(groups), DICOMWindow: meta.DICOMWindow,
		Date: opts.Now().UTC().Format(time.RFC3339),
	}
	meta.Adaptation = ad
	return ad, meta, nil
}

// writeAdapted writes dir/saved_model.pb (src's, with the new metadata in its
// meta_info_def), the metadata file, and copies every other file of src except the
// checkpoint (written by the saver) and a TensorFlow fingerprint (it would no longer
// match).
func writeAdapted(dir, src string, meta savedmodels.Metadata) error {
	b, err := os.ReadFile(filepath.Join(src, "saved_model.pb"))
	if err != nil {
		return err
	}
	var sm pb.SavedModel
	if err := proto.Unmarshal(b, &sm); err != nil {
		return err
	}
	js, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	for _, g := range sm.MetaGraphs {
		if g.MetaInfoDef == nil {
			g.MetaInfoDef = new(pb.MetaGraphDef_MetaInfoDef)
		}
		if g.MetaInfoDef.AnyInfo, err = anypb.New(wrapperspb.String(string(js))); err != nil {
			return err
		}
	}
	if b, err = (proto.MarshalOptions{Deterministic: true}).Marshal(&sm); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "saved_model.pb"), b, 0o644); err != nil {
		return err
	}
	skip := map[string]bool{"saved_model.pb": true, "fingerprint.pb": true, filepath.FromSlash(savedmodels.MetadataFile): true}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || d.IsDir() || skip[rel] || filepath.Dir(rel) == "variables" {
			return err
		}
		return copyFile(p, filepath.Join(dir, rel))
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(savedmodels.MetadataFile)), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, savedmodels.MetadataFile), append(js, '\n'), 0o644)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
