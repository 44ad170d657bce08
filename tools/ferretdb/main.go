// Command ferretdb runs FerretDB v1 (pinned in go.mod) through its embeddable
// package, so tests and local runs get a real MongoDB-wire server.
//
// Why a wrapper instead of the upstream cmd/ferretdb: a binary built from the
// module zip panics at start because build/version/version.txt is generated in
// FerretDB's own repository and is not part of the published module. The
// embeddable package skips that check and always runs with telemetry disabled.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	handler := flag.String("handler", "sqlite", "backend: sqlite or postgresql")
	sqliteURL := flag.String("sqlite-url", "file:data/", "SQLite directory URI (must end with /)")
	postgresURL := flag.String("postgresql-url", "", "PostgreSQL URL for the postgresql handler")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		log.Fatalf("invalid --log-level %q: %v", *logLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	server, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listen},
		Logger:        logger,
		Handler:       *handler,
		SQLiteURL:     *sqliteURL,
		PostgreSQLURL: *postgresURL,
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// A dev or test server must not outlive the script or test that started it, even one killed
	// with SIGKILL: when the parent goes away (we are re-parented), stop.
	parent := os.Getppid()
	go func() {
		for range time.Tick(time.Second) {
			if os.Getppid() != parent {
				logger.Warn("parent process exited; stopping")
				stop()
			}
		}
	}()

	// The listener waits for open client connections after ctx is cancelled; a test server
	// must stop promptly when its script exits, so give clients a moment, then leave.
	go func() {
		<-ctx.Done()
		time.Sleep(2 * time.Second)
		os.Exit(0)
	}()

	logger.Info("ferretdb listening", "addr", *listen, "handler", *handler)
	if err := server.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}
