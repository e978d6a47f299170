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
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
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
	ProcessCores                   float64            // 0 or less: not measured (an empty cell)
	Extra                          map[string]float64 // experiment-specific columns
}

// RowsOf turns a run into rows.
func RowsOf(exp string, r *RunResult) []Row {
	var rows []Row
	for _, q := range r.Queries {
		row := Row{Experiment: exp, Variant: r.Scenario.Variant, Scheduler: r.Scenario.Scheduler,
			Query: q.Spec.Name, Tenant: q.Spec.Tenant, Class: q.Spec.Class, TargetMs: float64(q.Spec.Target) / 1e6,
			EventsIn: q.Stats.EventsIn, Results: q.Stats.Results, Utilisation: r.Utilisation, ProcessCores: r.ProcessCores,
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
		"p50_ms", "p99_ms", "max_ms", "met_ratio", "events_per_s", "utilisation", "process_cores"}
	_ = w.Write(append(head, extra...))
	ff := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	cores := func(v float64) string {
		if v <= 0 {
			return ""
		}
		return ff(v)
	}
	for _, r := range rows {
		rec := []string{r.Experiment, r.Variant, r.Scheduler, r.Query, r.Tenant, r.Class, ff(r.TargetMs),
			strconv.FormatUint(r.EventsIn, 10), strconv.FormatUint(r.Results, 10),
			ff(r.P50Ms), ff(r.P99Ms), ff(r.MaxMs), ff(r.MetRatio), ff(r.EventsPerSec), ff(r.Utilisation), cores(r.ProcessCores)}
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

// LinePlot draws series to a PNG at path (PlotLines with a linear x axis
// and no reference lines).
func LinePlot(path, title, xLabel, yLabel string, logY bool, series []Series) error {
	return PlotLines(path, PlotSpec{Title: title, X: xLabel, Y: yLabel, LogY: logY}, series)
}

// PlotSpec is how a plot is drawn: its labels, which axes are logarithmic
// (ticks at 1, 2 and 5 times the powers of ten, each labelled), and
// reference lines (a latency target, say) across it.
type PlotSpec struct {
	Title, X, Y string
	LogX, LogY  bool
	VLines      []Ref // vertical lines at x values
	HLines      []Ref // horizontal lines at y values
}

// Ref is a reference line and its legend label.
type Ref struct {
	At    float64
	Label string
}

// legendWidth is the strip right of the data that holds the legend, so
// that it never covers a line.
const legendWidth = 1.7 * vg.Inch

// PlotLines draws series to a PNG at path. It never fails on the data:
// points that cannot be drawn (NaN, ±Inf, and on a log axis values ≤ 0)
// are left out and the number left out is said in the title; a plot
// with nothing left to draw says "no data" and keeps its labels, so an
// experiment that produced no results under load still writes its files.
func PlotLines(path string, spec PlotSpec, series []Series) (err error) {
	p := plot.New()
	p.X.Label.Text = spec.X
	p.Y.Label.Text = spec.Y
	var drawn, skipped int
	minX, maxX := math.Inf(1), math.Inf(-1)
	minY, maxY := math.Inf(1), math.Inf(-1)
	var lines []*plotter.Line
	var names []string
	for i, s := range series {
		n := min(len(s.X), len(s.Y))
		skipped += max(len(s.X), len(s.Y)) - n
		pts := make(plotter.XYs, 0, n)
		for j := 0; j < n; j++ {
			x, y := s.X[j], s.Y[j]
			if !finite(x) || !finite(y) || (spec.LogY && y <= 0) || (spec.LogX && x <= 0) {
				skipped++
				continue
			}
			pts = append(pts, plotter.XY{X: x, Y: y})
			minX, maxX = math.Min(minX, x), math.Max(maxX, x)
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
	title := spec.Title
	switch {
	case drawn == 0:
		title += " (no data)"
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	case skipped > 0:
		title += fmt.Sprintf(" (%d points not drawable)", skipped)
	}
	p.Title.Text = title
	if drawn > 0 {
		// Reference lines widen the range to show themselves.
		for _, r := range spec.VLines {
			if finite(r.At) && (!spec.LogX || r.At > 0) {
				minX, maxX = math.Min(minX, r.At), math.Max(maxX, r.At)
			}
		}
		for _, r := range spec.HLines {
			if finite(r.At) && (!spec.LogY || r.At > 0) {
				minY, maxY = math.Min(minY, r.At), math.Max(maxY, r.At)
			}
		}
		if spec.LogX {
			logAxis(&p.X, minX, maxX)
		}
		if spec.LogY {
			logAxis(&p.Y, minY, maxY)
		}
	}
	// The legend is drawn beside the data, not over it: p's own stays empty.
	leg := plot.NewLegend()
	for i, l := range lines {
		p.Add(l)
		leg.Add(names[i], l)
	}
	if drawn > 0 {
		for _, r := range spec.VLines {
			if l := refLine(plotter.XYs{{X: r.At, Y: minY}, {X: r.At, Y: maxY}}); l != nil && finite(r.At) && (!spec.LogX || r.At > 0) {
				p.Add(l)
				leg.Add(r.Label, l)
			}
		}
		for _, r := range spec.HLines {
			if l := refLine(plotter.XYs{{X: minX, Y: r.At}, {X: maxX, Y: r.At}}); l != nil && finite(r.At) && (!spec.LogY || r.At > 0) {
				p.Add(l)
				leg.Add(r.Label, l)
			}
		}
	}
	defer func() { // gonum panics on degenerate axes; a plot is never worth a crash
		if r := recover(); r != nil {
			err = fmt.Errorf("plot %s: %v", path, r)
		}
	}()
	const width, height = 8.5 * vg.Inch, 4.5 * vg.Inch
	img := vgimg.New(width, height)
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	leg.Top, leg.Left = true, true
	leg.YOffs = -p.Title.TextStyle.Height(p.Title.Text) - vg.Points(6)
	leg.Draw(draw.Crop(dc, width-legendWidth+vg.Points(6), 0, 0, 0))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// refLine is a dashed grey reference line through pts.
func refLine(pts plotter.XYs) *plotter.Line {
	l, err := plotter.NewLine(pts)
	if err != nil {
		return nil
	}
	l.Color = color.Gray{Y: 0x55}
	l.Width = vg.Points(1)
	l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	return l
}

// logAxis makes a a log axis over [lo, hi] with ticks at 1, 2 and 5 times
// the powers of ten, all labelled (gonum's own labels only the powers,
// which leaves a narrow range with one label or none).
func logAxis(a *plot.Axis, lo, hi float64) {
	if lo == hi { // a log axis needs a range
		lo, hi = lo/10, hi*10
	}
	a.Scale = plot.LogScale{}
	a.Min, a.Max = lo, hi
	a.Tick.Marker = tickMarker125{}
}

// tickMarker125 ticks a log axis at 1, 2 and 5 × 10^k, labelled, with
// unlabelled minor ticks at the other integers between.
type tickMarker125 struct{}

func (tickMarker125) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	if lo <= 0 || hi <= lo {
		return out
	}
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		base := math.Pow(10, e)
		for m := 1; m <= 9; m++ {
			v := float64(m) * base
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			out = append(out, t)
		}
	}
	return out
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
