// Command telegraf is the peer of the ingest benchmark: Telegraf's agent
// with only the plugins the comparison needs (inputs.http_listener_v2,
// the JSON parser and outputs.postgresql), built as a separate Go module
// so that Tributary's own module does not depend on Telegraf. Run it as
// `telegraf -config FILE`; bench/ingest writes the file (see -telegraf).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/influxdata/telegraf/agent"
	"github.com/influxdata/telegraf/config"
	_ "github.com/influxdata/telegraf/plugins/inputs/http_listener_v2"
	_ "github.com/influxdata/telegraf/plugins/outputs/postgresql"
	_ "github.com/influxdata/telegraf/plugins/parsers/json"
)

func main() {
	path := flag.String("config", "telegraf.conf", "configuration file")
	flag.Parse()
	c := config.NewConfig()
	if err := c.LoadConfig(*path); err != nil {
		fmt.Fprintln(os.Stderr, "telegraf: load config:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := agent.NewAgent(c)
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "telegraf:", err)
		os.Exit(1)
	}
}
