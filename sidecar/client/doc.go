// Package client calls a dwcp-sidecar process over gRPC. It is pure Go (it builds with
// CGO_ENABLED=0), for DWCP services that cannot link C: *Client implements engine.Engine,
// so code written against the in-process runtime switches to the sidecar by changing the
// constructor, and gets the same answers to the bit.
//
//	c, err := client.Dial(ctx, client.DefaultTarget()) // or "host:port" with WithTLSConfig
//	...
//	defer c.Close()
//	if err := c.WaitReady(ctx); err != nil { ... } // the sidecar verifies its bundle first
//	f, err := c.ForecastBandwidth(ctx, series)
//
// Errors are *engine.Error with the code and message the sidecar's engine gave, so
// errors.Is(err, engine.ErrNotFound) and engine.CodeOf work as in-process. A sidecar that
// cannot be reached gives CodeUnavailable naming the target; a call whose context ends
// gives CodeCanceled wrapping context.Canceled or context.DeadlineExceeded.
//
// Calls whose context has no deadline get a default timeout (2 s, WithTimeout); Reload,
// which verifies a whole bundle, gets at least a minute.
package client
