package experiments

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Row is one line of an experiment's CSV: one query of one run.
type Row struct {
	Experiment, Variant, Scheduler string
	Query, Tenant, Class           string
	TargetMs                       float64
	EventsIn, Results              uint64
	P50Ms, P99Ms, MaxMs            float64
	MetRatio                       float64
	EventsPerSec                   float64
	Utilisation                    float64
	Extra                          map[string]float64 // experiment-specific columns
}

// RowsOf turns a run into rows.
func RowsOf(exp string, r *RunResult) []Row {
	var rows []Row
	for _, q := range r.Queries {
		row := Row{Experiment: exp, Variant: r.Scenario.Variant, Scheduler: r.Scenario.Scheduler,
			Query: q.Spec.Name, Tenant: q.Spec.Tenant, Class: q.Spec.Class, TargetMs: float64(q.Spec.Target) / 1e6,
			EventsIn: q.Stats.EventsIn, Results: q.Stats.Results, Utilisation: r.Utilisation,
			EventsPerSec: float64(q.Stats.EventsIn) / r.Elapsed.Seconds(),
			P50Ms:        q.Stats.P50Ms, P99Ms: q.Stats.P99Ms, MaxMs: q.Stats.MaxMs, MetRatio: q.Stats.MetRatio}
		rows = append(rows, row)
	}
	return rows
}

// WriteCSV writes rows to path; extra columns are the union of the rows'
// Extra keys, in the order given.
func WriteCSV(path string, rows []Row, extra ...string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	head := []string{"experiment", "variant", "scheduler", "query", "tenant", "class", "target_ms", "events_in", "results",
		"p50_ms", "p99_ms", "max_ms", "met_ratio", "events_per_s", "utilisation"}
	_ = w.Write(append(head, extra...))
	ff := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for _, r := range rows {
		rec := []string{r.Experiment, r.Variant, r.Scheduler, r.Query, r.Tenant, r.Class, ff(r.TargetMs),
			strconv.FormatUint(r.EventsIn, 10), strconv.FormatUint(r.Results, 10),
			ff(r.P50Ms), ff(r.P99Ms), ff(r.MaxMs), ff(r.MetRatio), ff(r.EventsPerSec), ff(r.Utilisation)}
		for _, k := range extra {
			rec = append(rec, ff(r.Extra[k]))
		}
		_ = w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Series is one line of a plot.
type Series struct {
	Name string
	X, Y []float64
}

var palette = []color.Color{
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
	color.RGBA{R: 0xe3, G: 0x77, B: 0xc2, A: 0xff}, color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
}

// LinePlot draws series to a PNG at path. It never fails on the data:
// points that cannot be drawn (NaN, ±Inf, and on a log axis values ≤ 0)
// are left out and the number left out is said in the title; a plot
// with nothing left to draw says "no data" and keeps its labels, so an
// experiment that produced no results under load still writes its files.
func LinePlot(path, title, xLabel, yLabel string, logY bool, series []Series) (err error) {
	p := plot.New()
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	var drawn, skipped int
	minY, maxY := math.Inf(1), math.Inf(-1)
	var lines []*plotter.Line
	var names []string
	for i, s := range series {
		n := min(len(s.X), len(s.Y))
		skipped += max(len(s.X), len(s.Y)) - n
		pts := make(plotter.XYs, 0, n)
		for j := 0; j < n; j++ {
			x, y := s.X[j], s.Y[j]
			if !finite(x) || !finite(y) || (logY && y <= 0) {
				skipped++
				continue
			}
			pts = append(pts, plotter.XY{X: x, Y: y})
			minY, maxY = math.Min(minY, y), math.Max(maxY, y)
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("plot %s: %s: %w", path, s.Name, err)
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.5)
		lines, names = append(lines, l), append(names, s.Name)
		drawn += len(pts)
	}
	switch {
	case drawn == 0:
		title += " (no data)"
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	case skipped > 0:
		title += fmt.Sprintf(" (%d points not drawable)", skipped)
	}
	p.Title.Text = title
	if logY && drawn > 0 {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		if minY == maxY { // a log axis needs a range
			p.Y.Min, p.Y.Max = minY/10, maxY*10
		}
	}
	for i, l := range lines {
		p.Add(l)
		p.Legend.Add(names[i], l)
	}
	defer func() { // gonum panics on degenerate axes; a plot is never worth a crash
		if r := recover(); r != nil {
			err = fmt.Errorf("plot %s: %v", path, r)
		}
	}()
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// CDF returns a latency distribution as a series: latency (ms) against
// the share of results at or below it.
func CDF(name string, h *hdrhistogram.Histogram) Series {
	s := Series{Name: name}
	if h.TotalCount() == 0 {
		return s
	}
	for _, q := range []float64{0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97, 98, 99, 99.5, 99.9, 99.99, 100} {
		s.X = append(s.X, float64(h.ValueAtQuantile(q))/1e6)
		s.Y = append(s.Y, q/100)
	}
	return s
}

// ensureDir makes out and returns the path of name in it.
func ensureDir(out, name string) (string, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	return filepath.Join(out, name), nil
}

// ratioText formats a/b as "N.N×", or says why there is no ratio: a run
// that produced no results (under load, on a busy machine) has a p99 of 0.
func ratioText(a, b float64) string {
	if a <= 0 || b <= 0 || !finite(a) || !finite(b) {
		return fmt.Sprintf("n/a (%s / %s: no results on one side)", fmtMs(a), fmtMs(b))
	}
	return fmt.Sprintf("%.1f×", a/b)
}

func fmtMs(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) + " ms" }
