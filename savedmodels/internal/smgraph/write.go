package smgraph

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// WriteDirAtomic has write fill a temporary directory beside dir and renames it into
// place: dir is never half-written, and the temporary directory goes on failure.
func WriteDirAtomic(dir string, write func(tmp string) error) error {
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op after the rename
	if err := write(tmp); err != nil {
		return err
	}
	return replaceDir(tmp, dir)
}

// replaceDir renames the finished tmp to dir, moving an existing dir aside first and
// deleting it only after the new one is in place.
func replaceDir(tmp, dir string) error {
	if _, err := os.Lstat(dir); err != nil {
		return os.Rename(tmp, dir)
	}
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil {
		return fmt.Errorf("move the existing directory aside: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.Rename(old, dir)
		return err
	}
	return os.RemoveAll(old)
}

// WriteMetaGraph writes dir/saved_model.pb, one MetaGraph mg with the metadata in its
// meta_info_def, and the metadata file.
func WriteMetaGraph(dir string, mg *pb.MetaGraphDef, meta any) error {
	js, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	if mg.MetaInfoDef.AnyInfo, err = anypb.New(wrapperspb.String(string(js))); err != nil {
		return err
	}
	// Deterministic: the same model exports to the same bytes (maps in key order).
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.SavedModel{SavedModelSchemaVersion: 1, MetaGraphs: []*pb.MetaGraphDef{mg}})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "saved_model.pb"), b, 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(MetadataFile)), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, MetadataFile), append(js, '\n'), 0o644)
}
