package trigger

import (
	"context"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/logging"
)

// Handler handles one decoded change event. Returning an error asks for a
// redelivery (deploy with Retry); errors that a redelivery cannot fix should
// be logged and answered with nil.
type Handler func(ctx context.Context, d *app.Deps, e *Event) error

// CloudEventFunc is the functions-framework CloudEvent signature.
type CloudEventFunc = func(context.Context, event.Event) error

// Bind adapts h to a CloudEvent function over d. An event that cannot be
// decoded is logged and acknowledged: redelivering it would fail the same way.
func Bind(d *app.Deps, h Handler) CloudEventFunc {
	return func(ctx context.Context, ce event.Event) error {
		start := time.Now()
		e, err := Decode(ce)
		if err != nil {
			d.Log.Error("undecodable trigger event: dropped", "eventId", ce.ID(), "type", ce.Type(), "error", err.Error())
			return nil
		}
		log := d.Log.With("eventId", e.ID, "eventType", e.Type, "document", e.Path)
		ctx = logging.With(ctx, log)
		if err := h(ctx, d, e); err != nil {
			log.Error("trigger failed: asking for redelivery", "error", err.Error(), "ms", time.Since(start).Milliseconds())
			return err
		}
		log.Debug("trigger handled", "ms", time.Since(start).Milliseconds())
		return nil
	}
}

// Function adapts h for functions.CloudEvent: the instance's Deps are built
// from the environment on the first event and reused (configuration errors
// were already fatal at cold start on Cloud Run, see app.MustStartOnCloudRun).
func Function(h Handler) CloudEventFunc {
	var (
		once    sync.Once
		bound   CloudEventFunc
		initErr error
	)
	return func(ctx context.Context, ce event.Event) error {
		once.Do(func() {
			d, err := app.Default()
			if err != nil {
				initErr = err
				return
			}
			bound = Bind(d, h)
		})
		if initErr != nil {
			logging.Default().Error("function not configured", "error", initErr.Error())
			return initErr
		}
		return bound(ctx, ce)
	}
}
