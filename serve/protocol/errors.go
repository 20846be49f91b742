package protocol

import (
	"context"
	"errors"
	"net/http"

	"github.com/xraylab/xray/savedmodels"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// AsError maps any handler error to an *Error: a deadline 503, a cancel 499, an
// unloading model 503, the unexpected 500.
func AsError(err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, context.DeadlineExceeded):
		return Errorf(http.StatusServiceUnavailable, "no answer within the server's request timeout; retry later")
	case errors.Is(err, context.Canceled):
		return Errorf(499, "request canceled")
	case errors.Is(err, savedmodels.ErrClosed):
		return Errorf(http.StatusServiceUnavailable, "the model is being unloaded; retry")
	}
	return Errorf(http.StatusInternalServerError, "%v", err)
}

// GRPCError maps a handler error to a gRPC status: the REST status's code, as TensorFlow
// Serving maps its own (INVALID_ARGUMENT for a bad request, NOT_FOUND for an unknown model
// or version, RESOURCE_EXHAUSTED for the limits, UNAVAILABLE while loading or draining).
func GRPCError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	e := AsError(err)
	return status.Error(grpcCode(e.Status), e.Message)
}

func grpcCode(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return codes.InvalidArgument
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	case 499:
		return codes.Canceled
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotImplemented, http.StatusMethodNotAllowed:
		return codes.Unimplemented
	}
	return codes.Internal
}
