package soak

import (
	"fmt"
	"math"
	"time"
)

// Point is one sample of a quantity.
type Point struct {
	At    time.Time
	Value float64
}

// Trend is the least-squares line through the points after a warm-up.
type Trend struct {
	Name string
	// PerHour is the fitted slope in units per hour.
	PerHour float64
	// Growth is the fitted rise over the window (PerHour x window).
	Growth float64
	// Window is the time the fit covers; Points how many samples.
	Window time.Duration
	Points int
	// First and Last are the fitted values at the window's ends.
	First, Last float64
}

// Fit fits a line through the points at or after from. It needs two
// points at distinct times.
func Fit(name string, points []Point, from time.Time) (Trend, error) {
	var xs, ys []float64
	var t0, t1 time.Time
	for _, p := range points {
		if p.At.Before(from) {
			continue
		}
		if t0.IsZero() {
			t0 = p.At
		}
		t1 = p.At
		xs = append(xs, p.At.Sub(from).Hours())
		ys = append(ys, p.Value)
	}
	tr := Trend{Name: name, Points: len(xs), Window: t1.Sub(t0)}
	if len(xs) < 2 {
		return tr, fmt.Errorf("%s: %d samples after the warm-up, need 2", name, len(xs))
	}
	n := float64(len(xs))
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for i := range xs {
		sxx += (xs[i] - mx) * (xs[i] - mx)
		sxy += (xs[i] - mx) * (ys[i] - my)
	}
	if sxx == 0 {
		return tr, fmt.Errorf("%s: every sample at the same time", name)
	}
	tr.PerHour = sxy / sxx
	intercept := my - tr.PerHour*mx
	tr.First = intercept + tr.PerHour*xs[0]
	tr.Last = intercept + tr.PerHour*xs[len(xs)-1]
	tr.Growth = tr.Last - tr.First
	if math.IsNaN(tr.PerHour) {
		return tr, fmt.Errorf("%s: the fit is not a number", name)
	}
	return tr, nil
}

// Upward reports whether the fitted rise over the window exceeds limit
// (in the quantity's units): a leak rather than noise.
func (t Trend) Upward(limit float64) bool { return t.Growth > limit }

func (t Trend) String() string {
	return fmt.Sprintf("%s: slope %+.3f/h over %v (%d samples), fitted %.1f -> %.1f (%+.1f)",
		t.Name, t.PerHour, t.Window.Round(time.Second), t.Points, t.First, t.Last, t.Growth)
}
