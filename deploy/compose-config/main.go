// compose-config loads a compose file the way `docker compose config` does (compose-go: interpolation
// from an env file, the compose-spec schema, normalisation) and prints the resolved project as JSON.
// The tests run it on docker-compose.yml with .env.example, where no Docker engine is available.
//
// Usage: compose-config -f docker-compose.yml --env-file .env.example
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	file := flag.String("f", "docker-compose.yml", "the compose file")
	envFile := flag.String("env-file", ".env", "the env file that interpolation reads (the only source: the process environment is not)")
	flag.Parse()

	dir, err := filepath.Abs(filepath.Dir(*file))
	if err != nil {
		fail(err)
	}
	options, err := cli.NewProjectOptions([]string{*file},
		cli.WithName("tandem"),
		cli.WithWorkingDirectory(dir),
		cli.WithEnvFiles(*envFile),
		cli.WithDotEnv,
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compose-config:", err)
	os.Exit(1)
}
