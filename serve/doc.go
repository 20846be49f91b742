// Package serve is xray's HTTP model server: it serves the newest version of a model
// directory laid out as TensorFlow Serving's (numbered version subdirectories, each a
// SavedModel written by package savedmodels; one SavedModel directory also works) over
// TensorFlow Serving's REST API, a simple classify endpoint and a web page, and swaps in
// new versions as they appear without failing a request.
//
//	s, err := serve.New(serve.Config{ModelDir: "/models/xray"})
//	if errors.Is(err, versions.ErrNoModel) { ... }
//	ln, _ := net.Listen("tcp", "127.0.0.1:8501")
//	err = s.Serve(ctx, ln, 30*time.Second) // until ctx is done, then drains
//
// Routes:
//
//	GET  /v1/models/xray[/versions/N]            version status (TensorFlow Serving's shape)
//	GET  /v1/models/xray[/versions/N]/metadata   signature defs
//	POST /v1/models/xray[/versions/N]:predict    {"signature_name": "serving_bytes", "instances": [{"b64": ...}]},
//	                                             serving_default with preprocessed pixels, or "inputs" (columnar)
//	POST /v1/classify[?explain=1]                one JPEG, PNG or DICOM (body or multipart file) -> class, probabilities, decision
//	                                             (and the Grad-CAM overlay as a base64 PNG)
//	GET  /v1/xray                                the serving version and its metadata
//	GET  /                                       the web page (embedded)
//	GET  /healthz, /readyz, /metrics             alive; a model loaded and warmed up; Prometheus
//
// Errors are {"error": "..."} with a 4xx status for the client's mistakes, as TensorFlow
// Serving's. serving_bytes requests are decoded and preprocessed in Go by the model's
// preprocess.Preprocessor, whose graph the SavedModel's serving_bytes embeds (package
// savedmodels tests the two give the same bits), and batched across requests (Config.MaxBatch,
// MaxDelay). Being decoded in Go, they may also be DICOM files (Config.DICOMWindow), which
// TensorFlow Serving itself refuses.
//
// Security: Config.TLSCert/TLSKey (re-read when they change) and ClientCA (mutual TLS);
// Config.AuthTokens, a file of bearer tokens that every route but health and metrics
// requires (Authenticate; a gRPC interceptor calls it too). Every answer, the HTTP
// library's own errors included, is JSON; the access log holds no body, header or token.
//
// Versions (package serve/versions): which versions of a model serve is its
// versions.Policy (TensorFlow Serving's model_version_policy: the latest N, specific
// ones, all; default the latest), and Config.Models (versions.ReadModelConfig: TensorFlow
// Serving's model_config_list) serves several models. Every Config.Poll each model base
// is scanned; an aspired version complete (saved_model.pb, variables index and data)
// and unchanged for one poll interval is loaded, warmed up with one prediction and made available; versions the policy no
// longer names are then unloaded, and versions deleted from disk at once. Requests that
// hold an unloaded version finish on it; then its TensorFlow session is closed, which
// releases its memory at once. Each version's state (LOADING, AVAILABLE, UNLOADING,
// END, with a failed load's error) is what GET /v1/models/NAME reports.
//
// Packages: this one is the server core (configuration, routes, limits, security,
// metrics, /v1/classify and the page, the gRPC server and its interceptor). The wire
// protocols translate to and from the core's one prediction path (protocol.Backend):
// serve/tfserving (TensorFlow Serving's REST and gRPC APIs) and serve/kserve (the Open
// Inference Protocol's REST and gRPC bindings); serve/protocol holds what they share
// and serve/versions the version manager.
package serve
