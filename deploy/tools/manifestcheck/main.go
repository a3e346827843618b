// Command manifestcheck validates Kubernetes manifests (as `helm template`
// writes them) offline, against the API types and schemas compiled into
// k8s.io/api and k8s.io/client-go, so that CI needs no cluster and no
// schema download:
//
//  1. every document is decoded strictly into its Go API type (the kind
//     must be a built-in one; unknown or duplicate fields and wrong value
//     types are refused);
//  2. it is converted to a typed value of the OpenAPI schema client-go
//     embeds for server-side apply, which refuses fields and types the
//     schema does not declare;
//  3. a set of the API server's own rules is checked that neither of the
//     above covers: names, labels, required fields, that a Deployment's
//     selector matches its pod labels, that probes name declared ports,
//     that mounts name declared volumes, and that the HPA, PDB, Service and
//     Ingress point at objects in the same rendering.
//
// Usage: manifestcheck FILE... ; it prints one line per file and exits 1
// listing every problem.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: manifestcheck FILE...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			failed = true
			continue
		}
		kinds, problems := Check(data)
		if len(problems) > 0 {
			failed = true
			for _, p := range problems {
				fmt.Fprintf(os.Stderr, "%s: %s\n", path, p)
			}
			continue
		}
		fmt.Printf("%s: ok, %d objects: %v\n", path, len(kinds), kinds)
	}
	if failed {
		os.Exit(1)
	}
}
