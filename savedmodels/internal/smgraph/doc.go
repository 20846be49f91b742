// Package smgraph is the SavedModel plumbing that package savedmodels and the packages
// that write SavedModels beside it (savedmodels/export, savedmodels/adapt,
// savedmodels/ensemble) share, so each writes the same format through one
// implementation: GraphDef editing (GraphDef, Prune), the TF1 saver every loader
// restores through (AddSaver), signature tensor infos, the op and collection names the
// signatures, Explain and Load agree on, writing saved_model.pb with the metadata
// (WriteMetaGraph) and directories atomically (WriteDirAtomic), and small helpers
// (TensorByName, OneLine, Recovered).
//
// It knows nothing of savedmodels' types: metadata arrives as a value to marshal.
// Functions return errors and never print.
package smgraph
