package protocol

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Unary declares one method of a hand-written grpc.ServiceDesc whose service is
// registered with an S (grpc.Server.RegisterService(desc, s)): decode the request into a
// new Req, run the interceptors, call h. (protoc-gen-go-grpc would generate the same glue
// per method; the message types come from graft's and our generated packages.)
func Unary[S any, Req any, PReq interface {
	*Req
	proto.Message
}, Resp proto.Message](service, name string, h func(S, context.Context, PReq) (Resp, error)) grpc.MethodDesc {
	full := "/" + service + "/" + name
	return grpc.MethodDesc{MethodName: name, Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		in := PReq(new(Req))
		if err := dec(in); err != nil {
			return nil, err
		}
		s := srv.(S)
		call := func(ctx context.Context, req any) (any, error) { return h(s, ctx, req.(PReq)) }
		if ic == nil {
			return call(ctx, in)
		}
		return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, call)
	}}
}
