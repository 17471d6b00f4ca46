// Command stoa is the Stoa server and its operator tools. `stoa serve` runs
// the SFU, the signaling server and the pages; everything else lives in the
// packages this file wires together.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/stoa-video/stoa/api"
	"github.com/stoa-video/stoa/callcenter"
	"github.com/stoa-video/stoa/face"
	"github.com/stoa-video/stoa/limit"
	"github.com/stoa-video/stoa/live"
	"github.com/stoa-video/stoa/metrics"
	"github.com/stoa-video/stoa/ocr"
	"github.com/stoa-video/stoa/recorder"
	"github.com/stoa-video/stoa/sfu"
	"github.com/stoa-video/stoa/signaling"
	"github.com/stoa-video/stoa/turn"
	"github.com/stoa-video/stoa/webui"
)

const usage = `usage: stoa <command> [flags]

commands:
  serve     run the server (stoa serve --help lists its flags)
  loadtest  measure a server: N publishers play a clip to M subscribers (stoa loadtest --help)
  face      face detection and verification: stoa face detect|verify|enroll|identify (stoa face --help)
  ocr       read text or a document's fields from an image: stoa ocr [--kind KIND] [--json] IMG
  recordings  recordings on disk: stoa recordings verify [--key PUBKEY] [--data-dir DIR] FILE... (stoa recordings --help)
  version   print the version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "face":
		err = faceCmd(os.Args[2:], os.Stdout)
	case "ocr":
		err = ocrCmd(os.Args[2:], os.Stdout)
	case "recordings":
		err = recordingsCmd(os.Args[2:], os.Stdout)
	case "loadtest":
		err = loadtestCmd(os.Args[2:], os.Stdout)
	case "version":
		fmt.Println("stoa", signaling.Version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "stoa: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stoa:", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	cfg, err := LoadConfig(args, os.Getenv)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.SlogLevel()}))
	slog.SetDefault(log)
	log.Info("starting", "version", signaling.Version, "config", cfg)
	setMemoryLimit(log)
	// Before anything slow: a second server on this data dir says so at once.
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() {
		if err := unlock(); err != nil {
			log.Warn("unlock the data dir", "err", err)
		}
	}()

	var secret []byte
	if cfg.TokenSecret == "" {
		log.Warn("no token_secret configured: using a random one, so tokens do not survive a restart")
	} else {
		secret = []byte(cfg.TokenSecret)
	}
	tcpPort := cfg.TCPPort
	if tcpPort == 0 {
		tcpPort = -1
	}
	media, err := sfu.New(sfu.Config{UDPPort: cfg.UDPPort, TCPPort: tcpPort, ICEIPs: cfg.ICEIPs, PublicIP: cfg.PublicIP,
		MaxRooms: cfg.Limits.MaxRooms, MaxParticipants: cfg.Limits.MaxRoomParticipants,
		KeyframeInterval: cfg.KeyframeInterval}, log)
	if err != nil {
		return err
	}
	defer media.Close()

	recDir := cfg.Record.Dir
	if recDir == "" {
		recDir = filepath.Join(cfg.DataDir, "recordings")
	}
	recKey, err := recorder.LoadOrCreateKey(cfg.DataDir)
	if err != nil {
		return err
	}
	var callCenter *callcenter.Service // opened below; a recording's events reach it once it is
	recs, err := recorder.NewService(recorder.ServiceOptions{Dir: recDir, Key: recKey, Tags: cfg.Record.Tags, Log: log,
		OnEvent: func(ev string, info recorder.Summary) { fileRecording(callCenter, ev, info, log) }})
	if err != nil {
		return err
	}
	media.SetObserver(recs)
	defer recs.Close() // before media.Close: SIGTERM finalizes every recording (cues, duration, manifest)

	var relay *turn.Server
	if cfg.TURN.Enabled {
		turnSecret := []byte(cfg.TURN.Secret)
		if len(turnSecret) == 0 {
			turnSecret = make([]byte, 32)
			_, _ = rand.Read(turnSecret)
		}
		listenIP := "0.0.0.0"
		if len(cfg.ICEIPs) == 1 {
			listenIP = cfg.ICEIPs[0]
		}
		relay, err = turn.Start(turn.Config{ListenIP: listenIP, Port: cfg.TURN.Port, Realm: cfg.TURN.Realm,
			Secret: turnSecret, RelayIP: net.ParseIP(cfg.TURN.PublicIP), Logger: log, PionLogs: sfu.PionLogFactory})
		if err != nil {
			return err
		}
		defer relay.Close()
	}

	faceDir, ocrDir := face.DefaultModelDir(), ocr.DefaultModelDir()
	if cfg.ModelsDir != "" {
		faceDir, ocrDir = filepath.Join(cfg.ModelsDir, "face"), filepath.Join(cfg.ModelsDir, "ocr")
	}
	faces, facesErr := face.LoadModels(faceDir)
	if facesErr != nil {
		log.Warn("face verification is off: its weights are not installed (run make models)", "err", facesErr)
	} else {
		defer faces.Close()
	}
	gallery, err := face.OpenGallery(filepath.Join(cfg.DataDir, "faces.db"))
	if err != nil {
		return err
	}
	defer gallery.Close()
	reader, ocrErr := ocr.NewEngine(ocr.Options{ModelDir: ocrDir})
	if ocrErr != nil {
		log.Warn("OCR is off: its models are not installed (run make models)", "err", ocrErr)
	} else {
		defer reader.Close()
	}

	callOpts := cfg.Calls.options(cfg.TokenMaxTTL)
	callOpts.Logger = log
	callCenter, err = callcenter.Open(filepath.Join(cfg.DataDir, "calls.db"), callOpts)
	if err != nil {
		return err
	}
	defer callCenter.Close()

	ice := make([]signaling.ICEServer, 0, len(cfg.ICEServers))
	for _, s := range cfg.ICEServers {
		ice = append(ice, signaling.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	tokens := signaling.NewTokenIssuer(secret)
	tokens.MaxTTL = cfg.TokenMaxTTL
	opts := signaling.Options{SFU: media, Tokens: tokens, APIKeys: cfg.APIKeys,
		Dev: cfg.Dev, Grace: cfg.Grace, ICEServers: ice, Logger: log,
		Limits: signaling.Limits{MaxSessions: cfg.Limits.MaxSessions, AllowedOrigins: cfg.AllowedOrigins}}
	if relay != nil {
		opts.TURN = relay
	}
	var sig *signaling.Server
	stats := metrics.New(metrics.Sources{Media: media.Counters, Rooms: media.RoomCounters,
		Sessions: func() int { return sig.Sessions() }, Recordings: recs.Active},
		metrics.Options{RoomLabels: cfg.Metrics.RoomLabels})
	opts.Metrics = stats
	opts.QualitySink = callCenter
	opts.Quality = signaling.QualityOptions{Thresholds: cfg.Quality.thresholds(), Window: cfg.Quality.Window}
	sig = signaling.NewServer(opts)
	apiOpts := api.Options{Gate: sig, SFU: media, Logger: log, Recordings: recs, Stats: sig,
		Gallery: gallery, FacesErr: facesErr, OCRErr: ocrErr,
		Calls: api.CallCenter{Service: callCenter, Tokens: tokens, PublicURL: cfg.Calls.PublicURL},
		Limits: api.Limits{Jobs: cfg.Limits.Jobs, Queue: cfg.Limits.JobQueue,
			ClaimRate: cfg.Limits.ClaimRate, ClaimBurst: cfg.Limits.ClaimBurst,
			IPRate: cfg.Limits.ClaimRate * 2.5, IPBurst: cfg.Limits.ClaimBurst * 3}}
	if facesErr == nil {
		apiOpts.Faces = faces
	}
	if ocrErr == nil {
		apiOpts.OCR = reader
	}
	streams := live.New(media, 0, log)
	apiOpts.Live = streams
	// The websocket and the token API are signaling's; the rest of /api/ is the API's.
	mux := http.NewServeMux()
	sigRoutes := sig.Handler()
	for _, path := range []string{"/ws", "/api/token", "/api/info", "/healthz"} {
		mux.Handle(path, sigRoutes)
	}
	apiRoutes := api.New(apiOpts).Handler()
	mux.Handle("/api/", apiRoutes)
	mux.Handle("/whip/", apiRoutes)
	mux.Handle("/whep/", apiRoutes)
	mux.Handle("/", webui.Handler())
	if cfg.Metrics.Listen == "" {
		mux.Handle("/metrics", metricsBehindKey(sig, stats.Handler()))
	} else {
		stopMetrics, err := listenMetrics(cfg.Metrics.Listen, stats.Handler(), log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}

	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return err
	}
	tcpLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	var capWarn limit.LogEvery
	ln := limit.NewListener(tcpLn, cfg.Limits.MaxConnsPerIP, func(ip string) {
		capWarn.Warn(log, "connection refused: the address holds max_conns_per_ip connections", "ip", ip, "max", cfg.Limits.MaxConnsPerIP)
	})
	// Timeouts: a request (headers and body: a 20 MB upload from a slow
	// phone) has 2 minutes, an answer (a snapshot waiting in the job queue
	// and then analysed) 3, and an idle keep-alive connection is closed
	// after limits.idle_timeout (60 s). The websocket is hijacked, and gorilla clears these
	// deadlines on it.
	hs := &http.Server{Handler: mux, TLSConfig: tlsCfg,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
		WriteTimeout: 3 * time.Minute, IdleTimeout: cfg.Limits.IdleTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	base := fmt.Sprintf("%s://%s", scheme, ln.Addr())
	if cfg.Dev {
		log.Warn("DEV MODE: pages on this loopback address mint tokens without an API key; configure api_keys before exposing Stoa")
	}
	fmt.Printf("Stoa %s serving on %s\n  agent console:  %s/console\n  customer page:  %s/call\n  SDK:            %s/sdk/stoa.js\n",
		signaling.Version, base, base, base, base)

	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := startPprof(ctx, log); err != nil {
		return err
	}
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// The call center first: it ends the consoles' and customers' event
	// streams, which the HTTP server's Shutdown would otherwise wait for.
	if err := callCenter.Close(); err != nil {
		log.Warn("close the call center", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("http server shutdown: requests still open", "err", err)
	}
	streams.Close()
	sig.Close()
	return nil
}
