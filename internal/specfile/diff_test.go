package specfile_test

import (
	"testing"

	"github.com/tributary-dev/tributary/internal/specfile"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	a := "name: a\nkind: webhook\npersist: true\nretention: 30d\n"
	b := "name: a\nkind: webhook\npersist: true\nretention: 7d\n"
	want := "--- current\n+++ desired\n@@ -1,4 +1,4 @@\n name: a\n kind: webhook\n persist: true\n-retention: 30d\n+retention: 7d\n"
	if got := specfile.Diff("current", "desired", []byte(a), []byte(b)); got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	if got := specfile.Diff("x", "y", []byte(a), []byte(a)); got != "" {
		t.Errorf("equal texts: %q", got)
	}
	want = "--- /dev/null\n+++ new\n@@ -0,0 +1,2 @@\n+name: b\n+kind: webhook\n"
	if got := specfile.Diff("/dev/null", "new", nil, []byte("name: b\nkind: webhook\n")); got != want {
		t.Errorf("creation:\n%s\nwant:\n%s", got, want)
	}
}
