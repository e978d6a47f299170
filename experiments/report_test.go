package experiments

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLinePlotDegenerateData feeds LinePlot the data an experiment can meet
// on a loaded machine: every series empty (no results at all), values a log
// axis cannot show, NaN and ±Inf, one point, all points equal. It must write
// a PNG and never panic (gonum's log scale panics on an empty range).
func TestLinePlotDegenerateData(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		name   string
		logY   bool
		series []Series
	}{
		{"no series", true, nil},
		{"all empty", true, []Series{{Name: "cameo"}, {Name: "fifo"}}},
		{"all zero on log", true, []Series{{Name: "cameo", X: []float64{1, 2}, Y: []float64{0, 0}}}},
		{"negative on log", true, []Series{{Name: "cameo", X: []float64{1, 2}, Y: []float64{-1, -3}}}},
		{"nan and inf", true, []Series{{Name: "a", X: []float64{nan, 1, inf}, Y: []float64{1, nan, 2}}}},
		{"one point log", true, []Series{{Name: "a", X: []float64{1}, Y: []float64{5}}}},
		{"equal points log", true, []Series{{Name: "a", X: []float64{1, 2, 3}, Y: []float64{5, 5, 5}}}},
		{"one point linear", false, []Series{{Name: "a", X: []float64{1}, Y: []float64{5}}}},
		{"ragged", false, []Series{{Name: "a", X: []float64{1, 2, 3}, Y: []float64{5}}}},
		{"all empty linear", false, []Series{{Name: "a"}}},
	}
	dir := t.TempDir()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".png")
			if err := LinePlot(path, "t", "x", "y", c.logY, c.series); err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			st, err := os.Stat(path)
			if err != nil || st.Size() == 0 {
				t.Fatalf("no PNG written: %v", err)
			}
		})
	}
}

func TestRatioTextWithoutResults(t *testing.T) {
	for _, c := range []struct {
		a, b float64
		want string
	}{
		{10, 2, "5.0×"},
		{10, 0, "n/a"},
		{0, 2, "n/a"},
		{math.NaN(), 2, "n/a"},
		{math.Inf(1), 2, "n/a"},
	} {
		if got := ratioText(c.a, c.b); !strings.HasPrefix(got, c.want) {
			t.Errorf("ratioText(%v, %v) = %q, want prefix %q", c.a, c.b, got, c.want)
		}
	}
}

// Log axes label 1, 2 and 5 times the powers of ten; reference lines
// widen the range to show; lines a log axis cannot show are left out.
func TestPlotLinesLogAxesAndReferences(t *testing.T) {
	ticks := tickMarker125{}.Ticks(3, 60)
	var labels []string
	for _, tk := range ticks {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if strings.Join(labels, " ") != "5 10 20 50" {
		t.Fatalf("labels %v", labels)
	}
	dir := t.TempDir()
	for i, spec := range []PlotSpec{
		{Title: "cdf", LogX: true, VLines: []Ref{{At: 50, Label: "target"}}},
		{Title: "timeline", LogY: true, HLines: []Ref{{At: 0, Label: "zero on a log axis"}, {At: 1500, Label: "target"}}},
		{Title: "both", LogX: true, LogY: true, VLines: []Ref{{At: math.NaN(), Label: "nan"}}},
	} {
		path := filepath.Join(dir, fmt.Sprintf("p%d.png", i))
		if err := PlotLines(path, spec, []Series{{Name: "a", X: []float64{1, 2, 4}, Y: []float64{3, 30, 300}}}); err != nil {
			t.Fatalf("%s: %v", spec.Title, err)
		}
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			t.Fatalf("%s: no PNG: %v", spec.Title, err)
		}
	}
}
