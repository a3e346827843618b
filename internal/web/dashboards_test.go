package web

import (
	"testing"

	"github.com/tributary-dev/tributary/internal/dashboard"
)

func TestPlace(t *testing.T) {
	line := func(x, y, w, h int) dashboard.Widget {
		return dashboard.Widget{Kind: dashboard.Line, X: x, Y: y, W: w, H: h}
	}
	stat := dashboard.Widget{Kind: dashboard.Stat, X: 6, Y: 0, W: 3, H: 2}
	for _, c := range []struct {
		name       string
		in         []dashboard.Widget
		i          int
		x, y, w, h int
		want       []dashboard.Widget
	}{
		{"free cell", []dashboard.Widget{line(0, 0, 6, 4), stat}, 1, 6, 1, 3, 2,
			[]dashboard.Widget{line(0, 0, 6, 4), {Kind: dashboard.Stat, X: 6, Y: 1, W: 3, H: 2}}},
		{"pushes the overlapped down, and what it then overlaps",
			[]dashboard.Widget{line(0, 0, 6, 4), line(0, 4, 6, 4), line(6, 0, 6, 4)}, 2, 3, 0, 6, 4,
			[]dashboard.Widget{line(0, 4, 6, 4), line(0, 8, 6, 4), line(3, 0, 6, 4)}},
		{"clamped to the grid", []dashboard.Widget{line(0, 0, 6, 4)}, 0, 10, -3, 6, 4,
			[]dashboard.Widget{line(6, 0, 6, 4)}},
		{"not below the kind's minimum", []dashboard.Widget{line(0, 0, 6, 4)}, 0, 0, 0, 1, 1,
			[]dashboard.Widget{line(0, 0, 3, 2)}},
		{"not wider than the grid", []dashboard.Widget{line(0, 0, 6, 4)}, 0, 0, 0, 20, 30,
			[]dashboard.Widget{line(0, 0, 12, 24)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := place(c.in, c.i, c.x, c.y, c.w, c.h)
			if len(got) != len(c.want) {
				t.Fatalf("got %d widgets", len(got))
			}
			for k := range got {
				g, w := got[k], c.want[k]
				if g.X != w.X || g.Y != w.Y || g.W != w.W || g.H != w.H {
					t.Errorf("widget %d at %d,%d %dx%d, want %d,%d %dx%d", k, g.X, g.Y, g.W, g.H, w.X, w.Y, w.W, w.H)
				}
			}
		})
	}
}
