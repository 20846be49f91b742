package batchpipe

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn1x2[string, int, string](&shardFn{})
	register.DoFn3x1[context.Context, int, func(*string) bool, error](&writeFn{})
	register.Iter1[string]()
}

// ShardName is the file of shard i of n for an output prefix.
func ShardName(prefix string, i, n int) string {
	return fmt.Sprintf("%s-%05d-of-%05d.jsonl", prefix, i, n)
}

// shardFn keys a JSON line by a hash of its "file", so a file lands in the same shard on
// every run.
type shardFn struct{ Shards int }

func (f *shardFn) ProcessElement(line string) (int, string) {
	var l struct {
		File string `json:"file"`
	}
	json.Unmarshal([]byte(line), &l) // lines are ours; an unparsable one goes to shard 0
	h := fnv.New32a()
	h.Write([]byte(l.File))
	return int(h.Sum32() % uint32(f.Shards)), line
}

// writeFn writes one shard's lines, sorted (so a shard's content does not depend on
// bundle order), through Beam's filesystems.
type writeFn struct {
	Prefix string
	Shards int // 0: one file named Prefix + ".jsonl"
}

func (f *writeFn) ProcessElement(ctx context.Context, shard int, lines func(*string) bool) error {
	name := f.Prefix + ".jsonl"
	if f.Shards > 0 {
		name = ShardName(f.Prefix, shard, f.Shards)
	}
	var all []string
	var l string
	for lines(&l) {
		all = append(all, l)
	}
	sort.Strings(all)
	fs, err := filesystem.New(ctx, name)
	if err != nil {
		return err
	}
	defer fs.Close()
	w, err := fs.OpenWrite(ctx, name)
	if err != nil {
		return fmt.Errorf("output %s: %w", name, err)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	for _, l := range all {
		bw.WriteString(l)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		w.Close()
		return fmt.Errorf("output %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("output %s: %w", name, err)
	}
	return nil
}

// writeSharded writes lines to shards files named after prefix (one file, prefix.jsonl,
// when shards is 0).
func writeSharded(s beam.Scope, prefix string, shards int, lines beam.PCollection) {
	keyed := beam.ParDo(s, &shardFn{Shards: max(shards, 1)}, lines)
	beam.ParDo0(s, &writeFn{Prefix: prefix, Shards: shards}, beam.GroupByKey(s, keyed))
}
