// Package tfserving is serve's TensorFlow Serving protocol: the REST API (GET
// /v1/models/NAME[/versions/N][/metadata], POST .../NAME[/versions/N]:predict with
// "instances" or "inputs", NaN and Infinity as TensorFlow Serving writes them) and the
// gRPC PredictionService (Predict, GetModelMetadata; Classify and Regress answer
// UNIMPLEMENTED) and ModelService (GetModelStatus), declared by hand over graft's
// message types.
//
// Contract: serving_bytes takes encoded JPEG, PNG or DICOM files (b64 over REST,
// DT_STRING over gRPC), serving_default preprocessed pixels [N, S, S, 3]. Handlers only
// translate to and from protocol.Input and protocol.Output; the limits, checks and model
// call are the protocol.Backend's (serve.Server). A predict body is parsed token by token,
// so a body that breaks a limit costs no more memory than the values before the break.
// Errors are TensorFlow Serving's: {"error": "..."} over REST, its status codes over gRPC.
//
//	tfserving.Routes(protocol.Router{Mux: mux, API: api, Probe: probe}, backend) // /v1/models/...
//	tfserving.Register(grpcServer, backend)                                     // PredictionService, ModelService
package tfserving
