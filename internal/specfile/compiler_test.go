package specfile_test

import (
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
)

// compiler compiles the specs of the tests: the built-in source kinds and
// the http sink kind.
var compiler = pipeline.NewCompiler(source.Builtin(), sink.Builtin(sink.BlobConfig{}))
