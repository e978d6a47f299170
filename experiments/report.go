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

// LinePlot draws series to a PNG at path.
func LinePlot(path, title, xLabel, yLabel string, logY bool, series []Series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Legend.Top = true
	for i, s := range series {
		pts := make(plotter.XYs, 0, len(s.X))
		for j := range s.X {
			y := s.Y[j]
			if logY && y <= 0 {
				continue
			}
			pts = append(pts, plotter.XY{X: s.X[j], Y: y})
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
		p.Add(l)
		p.Legend.Add(s.Name, l)
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

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

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.Inf(1)
	}
	return a / b
}
