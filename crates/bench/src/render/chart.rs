//! The growth table as a small SVG chart.

use super::*;

/// A size, the product's time and the baseline's there.
type Point = (f64, f64, f64);

/// The growth table as a small chart: time against rows, both on log scales, one solid line
/// per figure and backend for the product and a dashed one for its baseline.
pub fn growth_svg(r: &Results) -> String {
    const PALETTE: [&str; 6] = [
        "#1b6ca8", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#2c3e50",
    ];
    let mut series: Vec<(String, Vec<Point>)> = Vec::new();
    for (scenario, metric, label) in GROWTH {
        for b in &r.backends {
            let points: Vec<Point> = r
                .sizes(b, scenario, metric)
                .into_iter()
                .filter_map(|n| {
                    let f =
                        r.latest
                            .get(&(b.clone(), scenario.to_owned(), metric.to_owned(), n))?;
                    Some((
                        n as f64,
                        num(&f["median_us"])?,
                        num(&f["baseline_median_us"])?,
                    ))
                })
                .filter(|(n, o, b)| *n > 0.0 && *o > 0.0 && *b > 0.0)
                .collect();
            if !points.is_empty() {
                let name = label.replace('`', "");
                series.push((format!("{name}, {}", display(b)), points));
            }
        }
    }
    let all = || series.iter().flat_map(|(_, p)| p.iter());
    let (x0, x1) = all().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y0, y1) = all().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(p.1.min(p.2)), b.max(p.1.max(p.2)))
    });
    let scale = |v: f64, lo: f64, hi: f64, from: f64, to: f64| {
        let (l, h) = (lo.log10(), hi.log10());
        if h - l < 1e-9 {
            (from + to) / 2.0
        } else {
            from + (v.log10() - l) / (h - l) * (to - from)
        }
    };
    let x = |v: f64| scale(v, x0, x1, 70.0, 470.0);
    let y = |v: f64| scale(v, y0, y1, 300.0, 20.0);
    let mut svg = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"820\" height=\"340\" \
         font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"820\" height=\"340\" fill=\"white\"/>\n\
         <line x1=\"70\" y1=\"300\" x2=\"470\" y2=\"300\" stroke=\"black\"/>\n\
         <line x1=\"70\" y1=\"20\" x2=\"70\" y2=\"300\" stroke=\"black\"/>\n",
    );
    if series.is_empty() {
        svg.push_str("<text x=\"80\" y=\"160\">No results yet.</text>\n</svg>\n");
        return svg;
    }
    let sizes: BTreeSet<u64> = all().map(|p| p.0 as u64).collect();
    for n in sizes {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"318\" text-anchor=\"middle\">{} rows</text>",
            x(n as f64),
            count(n)
        );
    }
    for (v, anchor) in [(y0, "end"), (y1, "end")] {
        let _ = writeln!(
            svg,
            "<text x=\"64\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            y(v) + 4.0,
            duration(v)
        );
    }
    for (i, (name, points)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        for (dash, pick) in [("", 1), (" stroke-dasharray=\"4 3\"", 2)] {
            let path: Vec<String> = points
                .iter()
                .map(|p| {
                    let v = if pick == 1 { p.1 } else { p.2 };
                    format!("{:.1},{:.1}", x(p.0), y(v))
                })
                .collect();
            let _ = writeln!(
                svg,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
                path.join(" ")
            );
        }
        let ly = 30.0 + 18.0 * i as f64;
        let _ = writeln!(
            svg,
            "<line x1=\"490\" y1=\"{ly:.1}\" x2=\"510\" y2=\"{ly:.1}\" stroke=\"{color}\" \
             stroke-width=\"2\"/><text x=\"516\" y=\"{:.1}\">{name}</text>",
            ly + 4.0
        );
    }
    let ly = 30.0 + 18.0 * series.len() as f64 + 6.0;
    let _ = writeln!(
        svg,
        "<text x=\"490\" y=\"{ly:.1}\">solid: the product; dashed: the baseline</text>\n</svg>"
    );
    svg
}
