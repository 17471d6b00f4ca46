package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stoa-video/stoa/loadtest"
)

const loadtestUsage = `usage: stoa loadtest --video CLIP [flags]

N publishers play a clip to M subscribers through a running server and report,
per subscription, packets, loss, bitrate, join → first frame and keyframe wait;
with --server-pid, the server's CPU per forwarded packet and memory per
subscriber. docs/benchmarks.md shows how to make the clip with ffmpeg.

flags:
`

// loadtestCmd runs `stoa loadtest`: flags in, loadtest.Run, a table or JSON out.
func loadtestCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("stoa loadtest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", "ws://127.0.0.1:8080/ws", "the server's websocket (Galène's too is ws://HOST:PORT/ws)")
	galene := fs.Bool("galene", false, "speak Galène's protocol, to measure Galène the same way")
	room := fs.String("room", "loadtest", "room (Stoa) or group (Galène)")
	password := fs.String("password", "", "Galène: the group's password")
	pubs := fs.Int("publishers", 1, "publishers N")
	subs := fs.Int("subscribers", 10, "subscribers M, each subscribed to every publisher")
	video := fs.String("video", "", "video clip: VP8 in .ivf or H264 Annex-B in .h264 (required)")
	audio := fs.String("audio", "", "audio clip: Opus in .ogg, one packet per page (optional)")
	fps := fs.Float64("fps", 30, "frame rate of an .h264 clip (Annex-B has no timestamps)")
	duration := fs.Duration("duration", 30*time.Second, "measurement window, once every subscriber receives")
	settle := fs.Duration("settle", 5*time.Second, "wait between the last subscriber receiving and the window (the joins' signaling dies down)")
	joinRate := fs.Float64("join-rate", 50, "subscribers started per second; 0 starts them all at once")
	joinTimeout := fs.Duration("join-timeout", time.Minute, "how long the window waits for subscribers after the last join starts")
	secret := fs.String("secret", "", "Stoa: sign tokens with the server's token_secret (default $STOA_TOKEN_SECRET); else POST /api/token")
	apiKey := fs.String("api-key", "", "Stoa: operator key for POST /api/token (none in dev mode)")
	var iceIPs []string
	fs.Var(&optList{p: &iceIPs}, "ice-ip", "local address for ICE candidates; repeatable or comma list (default 127.0.0.1)")
	pid := fs.Int("server-pid", 0, "the server's pid: read its CPU and RSS from /proc")
	asJSON := fs.Bool("json", false, "print the result as JSON, per-subscription figures included")
	progress := fs.Duration("progress", 5*time.Second, "interval of progress lines on stderr; 0 = none")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(out, loadtestUsage)
			fs.SetOutput(out)
			fs.PrintDefaults()
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("stoa loadtest takes no arguments, got %q (stoa loadtest --help)", fs.Args())
	}
	if *video == "" {
		return errors.New("stoa loadtest needs --video CLIP (stoa loadtest --help)")
	}
	if len(iceIPs) == 0 {
		iceIPs = []string{"127.0.0.1"}
	}
	if *secret == "" {
		*secret = os.Getenv("STOA_TOKEN_SECRET") // read here, so --help never prints it
	}
	v, err := loadtest.LoadVideo(*video, *fps)
	if err != nil {
		return err
	}
	var a *loadtest.Track
	if *audio != "" {
		if a, err = loadtest.LoadAudio(*audio); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := loadtest.Run(ctx, loadtest.Config{
		URL: *url, Galene: *galene, Room: *room, Password: *password,
		Publishers: *pubs, Subscribers: *subs, Video: v, Audio: a,
		Duration: *duration, Settle: *settle, JoinRate: *joinRate, JoinTimeout: *joinTimeout,
		Secret: []byte(*secret), APIKey: *apiKey, ICEIPs: iceIPs, ServerPID: *pid,
		Progress: *progress, ProgressOut: os.Stderr,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if res != nil {
		if *asJSON {
			if jerr := printJSON(out, res); jerr != nil {
				return errors.Join(err, jerr)
			}
		} else {
			res.WriteTable(out)
		}
	}
	return err
}
