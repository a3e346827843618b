// Command jsontype measures what PostgreSQL spends to store a record's
// data as jsonb and as json: it COPYs the same 200,000 rows (the records
// table's columns and index, 1,000 rows a COPY) into a table of each type,
// twice, and prints the CPU time of the database backend per row and the
// rows a second. Migration 0016 chose json from it. Example:
//
//	go run ./bench/jsontype -database-url postgres://…/empty_db
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

func main() {
	url := flag.String("database-url", "", "PostgreSQL URL of an empty, dedicated database on this machine")
	flag.Parse()
	if err := run(context.Background(), *url); err != nil {
		fmt.Fprintln(os.Stderr, "jsontype:", err)
		os.Exit(1)
	}
}

const rows, perCopy = 200_000, 1000

func run(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		return err
	}
	team, pipe := uuid.New(), uuid.New()
	for range 2 {
		for _, typ := range []string{"jsonb", "json"} {
			table := "jsontype_" + typ
			for _, sql := range []string{
				"DROP TABLE IF EXISTS " + table,
				"CREATE TABLE " + table + " (id bigint NOT NULL, team_id uuid NOT NULL, pipeline_id uuid NOT NULL, ts timestamptz NOT NULL, version integer NOT NULL, size integer NOT NULL, data " + typ + " NOT NULL)",
				"CREATE INDEX ON " + table + " (pipeline_id, ts DESC, id DESC)",
			} {
				if _, err := conn.Exec(ctx, sql); err != nil {
					return err
				}
			}
			cpu0, err := cpuTime(pid)
			if err != nil {
				return err
			}
			start, now := time.Now(), time.Now()
			for from := 0; from < rows; from += perCopy {
				_, err := conn.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "team_id", "pipeline_id", "ts", "version", "size", "data"},
					pgx.CopyFromSlice(perCopy, func(i int) ([]any, error) {
						n := from + i
						d := []byte(`{"direction":` + strconv.Itoa(n%360) + `,"humidity":55.5,"id":` + strconv.Itoa(n) +
							`,"note":"steady","ok":true,"pressure":1013.2,"station":"BERLIN-` + strconv.Itoa(n%50) +
							`","tags":["a","b"],"temp_c":7.35,"wind":3.4}`)
						return []any{int64(n), [16]byte(team), [16]byte(pipe), now.Add(time.Duration(n) * time.Millisecond), int32(1), int32(len(d)), d}, nil
					}))
				if err != nil {
					return err
				}
			}
			elapsed := time.Since(start)
			cpu1, err := cpuTime(pid)
			if err != nil {
				return err
			}
			fmt.Printf("%-5s %.2f µs of PostgreSQL CPU a row, %.0f rows/s\n", typ, float64((cpu1-cpu0).Microseconds())/rows, rows/elapsed.Seconds())
			if _, err := conn.Exec(ctx, "DROP TABLE "+table); err != nil {
				return err
			}
		}
	}
	return nil
}

// cpuTime is the user and system time of a local process (Linux).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("the database must run on this machine: %w", err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil // USER_HZ is 100 on Linux
}
