package serve

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"testing"

	apis "github.com/wamuir/graft/tensorflow/serving/apis_go_proto"
	"github.com/xraylab/xray/serve/inferencepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestGRPCSecurity: the gRPC listener speaks mutual TLS with the HTTP side's certificate
// and client CA, and refuses a call without an accepted bearer token with
// UNAUTHENTICATED, except the open health call ServerLive; a client without a
// certificate fails the handshake.
func TestGRPCSecurity(t *testing.T) {
	f := newFixture(t, 1)
	ca := newPKI(t, "xray test CA")
	ca.issue(t, "server", 10, false)
	client := ca.issue(t, "client", 20, true)
	s, _ := f.start(t, Config{AuthTokens: writeTokens(t, token1),
		TLSCert: filepath.Join(ca.dir, "server.pem"), TLSKey: filepath.Join(ca.dir, "server-key.pem"), ClientCA: filepath.Join(ca.dir, "ca.pem")})
	addr := startGRPC(t, s)
	conn := func(certs []tls.Certificate) *grpc.ClientConn {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.pool, Certificates: certs})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	good := conn([]tls.Certificate{client})
	status1 := "/tensorflow.serving.ModelService/GetModelStatus"
	req := &apis.GetModelStatusRequest{ModelSpec: &apis.ModelSpec{Name: "xray"}}
	for what, c := range map[string]struct {
		token string
		code  codes.Code
	}{"no token": {"", codes.Unauthenticated}, "wrong token": {"Bearer " + token2, codes.Unauthenticated}, "token": {"Bearer " + token1, codes.OK}} {
		ctx := context.Background()
		if c.token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", c.token)
		}
		var resp apis.GetModelStatusResponse
		err := good.Invoke(ctx, status1, req, &resp)
		if status.Code(err) != c.code || (c.code == codes.OK && len(resp.ModelVersionStatus) != 1) {
			t.Errorf("GetModelStatus with %s: %v, want %v", what, err, c.code)
		}
	}
	var live inferencepb.ServerLiveResponse
	if err := good.Invoke(context.Background(), "/inference.GRPCInferenceService/ServerLive", &inferencepb.ServerLiveRequest{}, &live); err != nil || !live.Live {
		t.Errorf("ServerLive without a token: %v, live %v; want open, as /v2/health/live", err, live.Live)
	}
	var resp apis.GetModelStatusResponse
	err := conn(nil).Invoke(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token1), status1, req, &resp)
	if code := status.Code(err); code != codes.Unavailable {
		t.Errorf("client without a certificate: %v, want a failed handshake (UNAVAILABLE)", err)
	}
}
