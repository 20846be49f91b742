// Package loader turns a manifest's images (dataset.Entry, paths relative to the data
// root) into batches for training and evaluation: parallel decoding with package
// preprocess, an in-memory or disk cache of the resized pixels, and training-time
// augmentation.
//
// Contract: a Loader decodes with Config.Workers goroutines, keeps at most Prefetch
// batches ready ahead of the consumer, and yields Batch values (NHWC float32 images, labels,
// one-hot labels, paths) in order. With Shuffle it visits dataset.EpochOrder(n, Seed, epoch), a
// function of those three numbers only, so a run resumed at epoch k reproduces the
// batches; without, the manifest's order. Decoded, resized uint8 pixels are cached in
// memory up to CacheBytes (default min(4 GiB, half the available memory)), so only the
// first epoch decodes. With CacheDir the pixels go to a file instead (pixels-<size>px-<key>.cache,
// keyed by the image list, the input size and the preprocessing; diskcache.go has the format
// and its crash-safe write protocol) that later epochs and later runs read through
// memory-mapped chunks bounded by CacheBytes, so peak memory does not grow with the
// dataset; a changed image (sha256) rebuilds its slot only. Each file's sha256 is checked
// against the manifest when it is read. Augment (rotation, zoom, shift, contrast,
// brightness; off by default as in the paper) is drawn from (Seed, epoch, image) and
// applied to the cached pixels, so it never changes what is cached. Epoch stops cleanly on break or
// context cancellation; no goroutine outlives the loop. Errors: ErrDiskCache,
// dataset.ErrChanged (a file whose sha256 differs from the manifest's), *AugmentRangeError.
//
//	m, err := dataset.ReadManifest("manifest.csv")
//	cfg := loader.DefaultConfig()                 // 256 px, [0, 1], batch 20
//	train, err := loader.New(m.Root, m.Subset(dataset.Train), cfg)
//	defer train.Close()
//	for b, err := range train.Epoch(ctx, epoch) { ... b.Images, b.OneHot ... }
//
// docs/dataset.md has the measured speeds and cache sizes on the Kermany data.
package loader
