package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

var barColors = map[string]string{
	"floor":      "#7f7f7f",
	"middleware": "#1f77b4",
	"http":       "#2ca02c",
	"twoproc":    "#d62728",
}

// renderSVG draws a grouped bar chart: one group per charted figure, one bar
// per variant other than bare, the bar's height its median ratio to bare.
func renderSVG(res *Result, rep Report) string {
	var ms []Metric
	for _, m := range metrics(res.Options) {
		if m.Chart != "" {
			ms = append(ms, m)
		}
	}
	var vs []*Variant
	for _, v := range res.Variants {
		if v.Key != bareKey {
			vs = append(vs, v)
		}
	}

	const (
		width, height            = 1000, 460
		left, right, top, bottom = 56, 16, 100, 70
		clip                     = 4.0 // ratios above this are drawn cut, with their value
	)
	ymax := 1.5
	for _, v := range vs {
		for _, m := range ms {
			if r := rep[v.Key][m.Key].Ratio[bareKey]; !math.IsNaN(r) && r > ymax {
				ymax = r
			}
		}
	}
	ymax = math.Min(math.Ceil(ymax*1.1*2)/2, clip)
	plotW, plotH := float64(width-left-right), float64(height-top-bottom)
	y := func(r float64) float64 { return float64(top) + plotH*(1-math.Min(r, ymax)/ymax) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	title := fmt.Sprintf("Ratio to bare net/http (median of %d paired round(s); 1 = bare)", len(res.Rounds))
	if res.Options.Smoke {
		title += " - smoke run, not a measurement"
	}
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="40" fill="#555">Lower is better, except throughput (rps). %s.</text>`+"\n", left,
		html.EscapeString(fmt.Sprintf("%s; %s", res.Started.UTC().Format("2006-01-02"), res.Machine.CPU)))

	// Legend.
	lx := left
	for _, v := range vs {
		fmt.Fprintf(&b, `<rect x="%d" y="50" width="12" height="12" fill="%s"/><text x="%d" y="60">%s</text>`+"\n",
			lx, barColors[v.Key], lx+16, html.EscapeString(v.Label))
		lx += 24 + 7*len(v.Label)
	}

	// Grid and axis.
	for g := 0.0; g <= ymax+1e-9; g += 0.5 {
		gy := y(g)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", left, gy, width-right, gy)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">%.1f</text>`+"\n", left-6, gy+4, g)
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#000" stroke-dasharray="6 4"/>`+"\n", left, y(1), width-right, y(1))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%.1f" stroke="#000"/>`+"\n", left, top, left, y(0))

	groupW := plotW / float64(len(ms))
	barW := groupW * 0.78 / float64(len(vs))
	for i, m := range ms {
		gx := float64(left) + groupW*float64(i) + groupW*0.11
		for j, v := range vs {
			r := rep[v.Key][m.Key].Ratio[bareKey]
			if math.IsNaN(r) {
				continue
			}
			x := gx + barW*float64(j)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %.2f×</title></rect>`+"\n",
				x, y(r), barW-1, y(0)-y(r), barColors[v.Key], html.EscapeString(v.Label), html.EscapeString(m.Label), r)
			label := fmt.Sprintf("%.2f", r)
			if r > ymax {
				label = fmt.Sprintf("%.1f▲", r)
			}
			tx, ty := x+barW/2+3, y(r)-3
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n", tx, ty, tx, ty, label)
		}
		cx := float64(left) + groupW*(float64(i)+0.5)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" transform="rotate(-30 %.1f %.1f)">%s</text>`+"\n",
			cx, y(0)+16, cx, y(0)+16, html.EscapeString(m.Chart))
	}
	b.WriteString("</svg>\n")
	return b.String()
}
