package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/xraylab/xray/progress"
	"github.com/xraylab/xray/trainer"
	"github.com/xraylab/xray/trainer/cluster"
)

// Multi-machine training (docs/distributed.md): the cluster comes from --cluster and
// --task, or else from TF_CONFIG (Keras's and Kubeflow's variable).

func clusterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "cluster", Usage: "several machines: the cluster as `JSON`, {\"chief\": [\"host:port\"], \"worker\": [\"host:port\", ...]} (default: TF_CONFIG's cluster when TF_CONFIG is set)", EnvVars: env("CLUSTER")},
		&cli.StringFlag{Name: "task", Usage: "with --cluster: this process's task, `TYPE:INDEX` (chief, worker:0, worker:1, ...)", EnvVars: env("TASK")},
		&cli.DurationFlag{Name: "cluster-wait", Value: cluster.DefaultClusterWait, Usage: "the chief's wait for every worker to answer before it gives up", EnvVars: env("CLUSTER_WAIT")},
		&cli.DurationFlag{Name: "step-timeout", Value: cluster.DefaultStepTimeout, Usage: "the chief stops when a training step takes longer (a worker that hangs)", EnvVars: env("STEP_TIMEOUT")},
	}
}

// clusterFromFlags is the cluster of --cluster/--task or TF_CONFIG; nil for one process.
func clusterFromFlags(c *cli.Context) (*cluster.Cluster, error) {
	var cl *cluster.Cluster
	var err error
	switch tc := os.Getenv("TF_CONFIG"); {
	case c.String("cluster") != "":
		if c.String("task") == "" {
			return nil, usagef("--cluster needs --task (chief, or worker:i for the i-th worker)")
		}
		if cl, err = cluster.ParseCluster(c.String("cluster"), c.String("task")); err != nil {
			return nil, usagef("--cluster/--task: %v", err)
		}
	case c.String("task") != "":
		return nil, usagef("--task needs --cluster (or set TF_CONFIG instead of both)")
	case tc != "":
		if cl, err = cluster.ParseTFConfig(tc); err != nil {
			return nil, usagef("TF_CONFIG: %v", err)
		}
	default:
		return nil, nil
	}
	cl.Wait, cl.StepTimeout = c.Duration("cluster-wait"), c.Duration("step-timeout")
	return cl, nil
}

// exitOnLostWorker ends the chief, non-zero, when a worker stops answering: its pending
// step would wait on the dead worker until the step timeout. The checkpoints and history
// already written stay (they are replaced atomically); --resume continues from them.
func exitOnLostWorker(ctx context.Context, c *cli.Context, cfg trainer.Config) {
	if err, ok := <-cfg.Cluster.Watch(ctx, time.Second); ok {
		fmt.Fprintf(c.App.ErrWriter, "xray: %v\n", lostWorkerError(err, cfg.Out))
		os.Exit(1)
	}
}

// lostWorkerError keeps a lost worker's message and says how to continue.
func lostWorkerError(err error, out string) error {
	var lw *cluster.WorkerLostError
	if errors.As(err, &lw) {
		return fmt.Errorf("%w (xray train --out %s --resume, same flags)", err, out)
	}
	return err
}

func init() {
	register(&cli.Command{
		Name:  "worker",
		Usage: "serve as a worker of a multi-machine training run (the chief, `xray train` with the same cluster, drives it)",
		UsageText: "xray worker --cluster JSON --task worker:I [--device auto|cpu|gpu] [--devices N]\n" +
			"TF_CONFIG='{\"cluster\": {...}, \"task\": {\"type\": \"worker\", \"index\": 0}}' xray worker\n\n" +
			"Give every process of the cluster the same --device and --devices. A worker reads no data and writes\n" +
			"nothing; it serves until it is stopped (docs/distributed.md).",
		Flags: append(clusterFlags(),
			&cli.StringFlag{Name: "device", Value: trainer.DeviceAuto, Usage: "auto, cpu or gpu, as the chief's", EnvVars: env("DEVICE")},
			&cli.StringFlag{Name: "devices", Usage: "replicas on this machine, as the chief's --devices", EnvVars: env("DEVICES")},
			&cli.IntFlag{Name: "threads", Usage: "TensorFlow threads (0: all cores)", EnvVars: env("THREADS")},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("worker takes no arguments, got %q", c.Args().First())
			}
			cl, err := clusterFromFlags(c)
			if err != nil {
				return err
			}
			if cl == nil {
				return usagef("no cluster: give --cluster and --task, or set TF_CONFIG")
			}
			if cl.TaskType != cluster.TaskWorker {
				return usagef("this process's task is the chief: run xray train on it, and xray worker on the workers")
			}
			return serveWorker(c, trainer.Config{Cluster: cl, Device: c.String("device"), Devices: c.String("devices"), Threads: c.Int("threads")})
		},
	})
}

// serveWorker serves until SIGINT or SIGTERM.
func serveWorker(c *cli.Context, cfg trainer.Config) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg.Logger = progress.Lines(c.App.Writer, "")
	return trainer.ServeWorker(ctx, cfg)
}
