package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/dwcp/dwcp-ml/sidecar/client"
	"github.com/dwcp/dwcp-ml/sidecar/rollout"
)

// rolloutCommand parses `rollout ACTION [flags]` and returns the call to make.
func rolloutCommand(args []string, addr string, w io.Writer) (func(context.Context, *client.Client) error, error) {
	if len(args) == 0 {
		return nil, usageError{"rollout needs an action: show, set, promote, rollback, withdraw or clear-shadow"}
	}
	action, rest := args[0], args[1:]
	switch action {
	case "show":
		if len(rest) > 0 {
			return nil, usageError{"rollout show takes no argument"}
		}
		return func(ctx context.Context, c *client.Client) error {
			st, err := c.Rollout(ctx)
			if err != nil {
				return err
			}
			return printRollout(w, addr, st)
		}, nil
	case "promote", "rollback", "withdraw", "clear-shadow":
		if len(rest) > 0 {
			return nil, usageError{fmt.Sprintf("rollout %s takes no argument", action)}
		}
		return setCall(client.RolloutRequest{Action: action}, addr, w), nil
	case "set":
	default:
		return nil, usageError{fmt.Sprintf("unknown rollout action %q; want show, set, promote, rollback, withdraw or clear-shadow", action)}
	}
	fs := flag.NewFlagSet("rollout set", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	canary := fs.String("canary", "", "canary bundle `dir` (on the sidecar's machine, under its -bundle-root)")
	weight := fs.Int("weight", 0, "the canary's first weight in `basis points` (0 = the policy's first step, 10 %)")
	shadow := fs.String("shadow", "", "shadow bundle `dir`")
	hold := fs.Duration("hold", 0, "policy: time at a step before the next (0 = keep the sidecar's)")
	window := fs.Duration("window", 0, "policy: the window both slots are judged on (0 = keep)")
	if err := fs.Parse(rest); err != nil {
		return nil, usageError{"rollout set: " + err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("rollout set: unexpected argument %q; give -canary, -shadow, -weight, -hold, -window", fs.Arg(0))}
	}
	req := client.RolloutRequest{Action: "set", CanaryWeightBP: *weight}
	for _, d := range []struct {
		in  string
		out *string
	}{{*canary, &req.CanaryDir}, {*shadow, &req.ShadowDir}} {
		if d.in != "" {
			abs, err := filepath.Abs(d.in)
			if err != nil {
				return nil, err
			}
			*d.out = abs
		}
	}
	if *hold != 0 || *window != 0 {
		return func(ctx context.Context, c *client.Client) error {
			st, err := c.Rollout(ctx) // keep the rest of the sidecar's policy
			if err != nil {
				return err
			}
			p := st.State.Policy
			if *hold != 0 {
				p.Hold = *hold
			}
			if *window != 0 {
				p.Window = *window
			}
			req.Policy = &p
			return setCall(req, addr, w)(ctx, c)
		}, nil
	}
	return setCall(req, addr, w), nil
}

func setCall(req client.RolloutRequest, addr string, w io.Writer) func(context.Context, *client.Client) error {
	return func(ctx context.Context, c *client.Client) error {
		st, err := c.SetRollout(ctx, req)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "rollout %s done\n", req.Action)
		return printRollout(w, addr, st)
	}
}

// printRollout prints the slots, the weight, the state and the last transitions.
func printRollout(w io.Writer, addr string, st rollout.Status) error {
	s := st.State
	state := "no canary"
	if s.Active {
		state = fmt.Sprintf("canary %s at %d bp (%d %%) since %s", s.Canary, s.WeightBP, s.Percent(), s.Since.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "sidecar %s: %s; policy steps %v, window %v, hold %v\n", addr, state, s.Policy.Steps, s.Policy.Window, s.Policy.Hold)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tBUNDLE\tSIGNED\tDIR")
	for _, sl := range st.Slots {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", sl.Slot, sl.Bundle, sl.Signed, sl.BundleDir)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, v := range s.Verdict {
		fmt.Fprintf(w, "last judgement: %s\n", v)
	}
	for _, t := range s.Transitions {
		fmt.Fprintf(w, "%s\n", t)
	}
	return nil
}

var actualKinds = map[string]client.ActualKind{
	"bandwidth": client.ActualBandwidth, "capacity": client.ActualCapacity, "anomaly": client.ActualAnomaly,
	"link": client.ActualLink,
}

// reportActual parses `report-actual KIND ENTITY TS VALUE`.
func reportActual(args []string, w io.Writer) (func(context.Context, *client.Client) error, error) {
	kind, ok := actualKinds[args[0]]
	if !ok {
		return nil, usageError{fmt.Sprintf("report-actual: kind %q; want bandwidth, capacity, anomaly or link", args[0])}
	}
	ts, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil {
		return nil, usageError{fmt.Sprintf("report-actual: timestamp %q is not Unix seconds", args[2])}
	}
	value, err := strconv.ParseFloat(args[3], 64)
	if err != nil {
		return nil, usageError{fmt.Sprintf("report-actual: value %q is not a number", args[3])}
	}
	entity := args[1]
	return func(ctx context.Context, c *client.Client) error {
		n, err := c.ReportActual(ctx, kind, entity, ts, value)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "joined to %d served prediction(s)\n", n)
		return nil
	}, nil
}
