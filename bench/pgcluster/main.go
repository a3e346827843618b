// Command pgcluster starts and stops the throwaway PostgreSQL cluster
// that `make bench` measures against (durable settings, unlike the test
// cluster; see internal/pgtest.StartBench):
//
//	go run ./bench/pgcluster start -dir /tmp/tributary-bench-pg   # prints the URL
//	go run ./bench/pgcluster stop -dir /tmp/tributary-bench-pg
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "start" && os.Args[1] != "stop") {
		fmt.Fprintln(os.Stderr, "usage: pgcluster start|stop -dir DIR")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "/tmp/tributary-bench-pg", "cluster directory (removed and made afresh by start)")
	_ = fs.Parse(os.Args[2:])
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if os.Args[1] == "stop" {
		if err := pgtest.StopBench(ctx, *dir); err != nil {
			fmt.Fprintln(os.Stderr, "pgcluster stop:", err)
			os.Exit(1)
		}
		return
	}
	u, err := pgtest.StartBench(ctx, *dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgcluster start:", err)
		os.Exit(1)
	}
	fmt.Println(u)
}
