package reqid

import (
	"context"

	"go.uber.org/zap"
)

type key struct{}

// With returns ctx carrying the request id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// From returns the request id in ctx, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// Field is the request id as a zap field (zap.Skip when there is none).
func Field(ctx context.Context) zap.Field {
	return FieldOf(From(ctx))
}

// FieldOf is the zap field of a request id; zap.Skip when empty.
func FieldOf(id string) zap.Field {
	if id == "" {
		return zap.Skip()
	}
	return zap.String("request_id", id)
}
