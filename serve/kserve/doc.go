// Package kserve is serve's Open Inference Protocol (KServe v2, as Triton speaks it):
// its REST binding (health, server and model metadata, readiness, infer, with Triton's
// binary tensor data extension that tritonclient uses by default) and its gRPC binding
// (inference.GRPCInferenceService over the types of serve/inferencepb).
//
// Contract: the input's name picks the signature: image_bytes (BYTES [N], encoded JPEG,
// PNG or DICOM files) feeds serving_bytes, image (FP32 [N, S, S, 3], preprocessed pixels)
// serving_default; the outputs are probabilities (FP32 [N, classes]) and class_id
// (INT64 [N]). Handlers only translate to and from protocol.Input and protocol.Output; the
// limits, checks and model call are the protocol.Backend's (serve.Server). Request bodies
// are read within the Backend's limits and decoded as streams bounded by the declared
// shape. Errors are {"error": "..."} over REST and gRPC status codes over gRPC.
//
//	kserve.Routes(protocol.Router{Mux: mux, API: api, Probe: probe}, backend) // /v2/...
//	kserve.Register(grpcServer, backend)                                     // GRPCInferenceService
package kserve
