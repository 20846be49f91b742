// Package versions is serve's version manager, TensorFlow Serving's in Go: it keeps the
// versions of one model base that a Policy names loaded, warmed up and available, polls
// the base for new versions and unloads the ones no longer named, and reports each
// version's state (LOADING, AVAILABLE, UNLOADING, END) as GetModelStatus does.
//
// Contract: a model base is TensorFlow Serving's layout (numbered version directories,
// each a SavedModel written by package savedmodels) or one SavedModel directory (version
// 1, never reloaded). A version is loaded once it is complete (saved_model.pb, variables
// index and data) and its files have stayed unchanged for one poll; a version that fails
// to load leaves its place to the next older one until its files change. A request holds
// the version it uses (Acquire) and the version's TensorFlow session is closed only after
// the last one lets go. New's error matches ErrNoModel when nothing loads; ReadModelConfig's
// matches ErrModelConfig. Logs go to the *slog.Logger handed in; nothing is printed.
//
//	models, err := versions.ReadModelConfig("models.config") // TensorFlow Serving's --model_config_file
//	m, err := versions.New(models[0], savedmodels.Options{}, logger, versions.Metrics{...})
//	go m.Watch(ctx, 10*time.Second)
//	v, release := m.Acquire(0) // the highest available version; nil when none
//	defer release()
//	preds, err := v.Model.PredictBytes(ctx, jpeg)
package versions
