// Package protocol is what serve's wire protocols share: the model's terms every request
// is translated into (Input: a signature and encoded files or preprocessed pixels) and
// out of (Output: probabilities and class ids), the errors they answer (Error: an HTTP
// status and a message; AsError for any error, GRPCError for its gRPC status, as
// TensorFlow Serving maps them), and Backend, the server core they call. Handlers
// only translate; the limits, the image checks and the model call are the
// Backend's, once for every protocol.
//
// Contract: nothing here touches a network, a file or a model; Backend's implementation
// is serve.Server. A protocol package (serve/tfserving, serve/kserve) mounts its REST
// routes with a Router and declares its gRPC services with Unary:
//
//	func Routes(rt protocol.Router, b protocol.Backend) {
//		rt.Mux.Handle("POST /v2/models/{name}/infer", rt.API("v2_infer", func(w http.ResponseWriter, r *http.Request) error {
//			out, err := b.Predict(r.Context(), protocol.ModelPath{Name: r.PathValue("name")}, decode)
//			...
//		}))
//	}
package protocol
