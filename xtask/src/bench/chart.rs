//! The benchmark charts `cargo xtask bench` writes as SVG: the cost under load (one panel
//! per family, a line over the loads) and Moroso beside Linux and seL4 (one group of bars
//! per operation, on a logarithmic axis so a 200-instruction bar and a 10,000-instruction
//! one are both readable).

use super::{Comparison, Figure, FAMILIES, SEL4_SOURCE};
use std::collections::BTreeMap;
use std::fmt::Write;

/// An SVG line chart of the families: one panel each, load on the x axis, median
/// instructions on the y axis from zero (so a flat line looks flat and a growing one grows).
pub fn load(m: &BTreeMap<String, Figure>) -> String {
    const W: f64 = 300.0;
    const H: f64 = 220.0;
    const PAD: (f64, f64, f64, f64) = (56.0, 16.0, 36.0, 44.0); // left, right, top, bottom
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        W * FAMILIES.len() as f64
    );
    for (i, f) in FAMILIES.iter().enumerate() {
        let x0 = i as f64 * W;
        let pts: Vec<(u32, u64)> = f.points.iter().filter_map(|(n, k)| m.get(*k).map(|x| (*n, x.median))).collect();
        let xmax = f.points.iter().map(|(n, _)| *n).max().unwrap_or(1).max(1) as f64;
        let ymax = pts.iter().map(|p| p.1).max().unwrap_or(1).max(1) as f64 * 1.2;
        let (pw, ph) = (W - PAD.0 - PAD.1, H - PAD.2 - PAD.3);
        let px = |n: f64| x0 + PAD.0 + n / xmax * pw;
        let py = |v: f64| PAD.2 + ph - v / ymax * ph;
        svg += &format!(
            "<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n",
            x0 + W / 2.0,
            f.title
        );
        svg += &format!(
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/><line x1=\"{0}\" y1=\"{2}\" x2=\"{3}\" y2=\"{2}\" stroke=\"black\"/>\n",
            px(0.0),
            py(ymax),
            py(0.0),
            px(xmax)
        );
        for t in 0..=4 {
            let v = ymax / 4.0 * t as f64;
            let y = py(v);
            svg += &format!(
                "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
                px(0.0),
                px(xmax),
                px(0.0) - 4.0,
                y + 4.0,
                v.round() as u64
            );
        }
        for (n, _) in f.points {
            svg +=
                &format!("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{n}</text>\n", px(*n as f64), py(0.0) + 14.0);
        }
        svg += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            x0 + PAD.0 + pw / 2.0,
            H - 8.0,
            f.load
        );
        let line: Vec<String> = pts.iter().map(|(n, v)| format!("{:.1},{:.1}", px(*n as f64), py(*v as f64))).collect();
        svg +=
            &format!("<polyline points=\"{}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n", line.join(" "));
        for (n, v) in &pts {
            svg += &format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1f77b4\"/><text x=\"{0:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#1f77b4\">{v}</text>\n",
                px(*n as f64),
                py(*v as f64),
                py(*v as f64) - 7.0
            );
        }
    }
    svg += &format!(
        "<text x=\"4\" y=\"{}\" font-size=\"9\" fill=\"#666\">median guest instructions (-icount shift=0)</text>\n</svg>\n",
        H - 2.0
    );
    svg
}

/// The systems of the comparison chart, in bar order: name and colour.
pub const SYSTEMS: [(&str, &str); 3] =
    [("Moroso", "#1f77b4"), ("Linux 6.1", "#ff7f0e"), ("seL4 (published)", "#2ca02c")];

/// A horizontal bar chart: per operation, a bar for each system that has a figure for it
/// (Moroso's and Linux's from this run, seL4's published ones), on a log10 axis.
pub fn compare(rows: &[(&Comparison, [Option<u64>; 3])], linux_measured: bool) -> String {
    const LABEL: f64 = 330.0;
    const PLOT: f64 = 420.0;
    const BAR: f64 = 13.0;
    const TOP: f64 = 58.0;
    let values = rows.iter().flat_map(|(_, v)| v.iter().flatten().copied());
    let (lo, hi) = values.fold((u64::MAX, 1), |(lo, hi), v| (lo.min(v.max(1)), hi.max(v)));
    // Whole decades around the figures: 100 to 100,000 for today's.
    let (d0, d1) = ((lo.max(1) as f64).log10().floor(), (hi.max(10) as f64).log10().ceil());
    let x = |v: u64| LABEL + ((v.max(1) as f64).log10() - d0) / (d1 - d0).max(1.0) * PLOT;
    let group_height = |v: &[Option<u64>; 3]| v.iter().flatten().count() as f64 * (BAR + 2.0) + 22.0;
    let height = TOP + rows.iter().map(|(_, v)| group_height(v)).sum::<f64>() + 44.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height:.0}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
        LABEL + PLOT + 70.0
    );
    let _ = writeln!(
        svg,
        "<text x=\"8\" y=\"18\" font-weight=\"bold\" font-size=\"13\">Moroso, Linux and seL4: guest instructions under QEMU -icount shift=0 (log scale, fewer is better)</text>"
    );
    for (i, (name, colour)) in SYSTEMS.iter().enumerate() {
        let lx = 8.0 + i as f64 * 150.0;
        let _ = writeln!(
            svg,
            "<rect x=\"{lx}\" y=\"28\" width=\"12\" height=\"12\" fill=\"{colour}\"/><text x=\"{}\" y=\"38\">{name}</text>",
            lx + 16.0
        );
    }
    let bottom = height - 40.0;
    let mut d = d0;
    while d <= d1 {
        let v = 10f64.powf(d) as u64;
        let gx = x(v);
        let _ = writeln!(
            svg,
            "<line x1=\"{gx:.1}\" y1=\"{TOP}\" x2=\"{gx:.1}\" y2=\"{bottom:.1}\" stroke=\"#ddd\"/><text x=\"{gx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            bottom + 14.0,
            thousands(v)
        );
        d += 1.0;
    }
    let mut y = TOP;
    for (c, v) in rows {
        let _ = writeln!(svg, "<text x=\"8\" y=\"{:.1}\" font-weight=\"bold\">{}</text>", y + 10.0, c.what);
        let mut by = y + 14.0;
        for (i, value) in v.iter().enumerate() {
            let Some(value) = value else { continue };
            let (name, colour) = SYSTEMS[i];
            let note = match i {
                1 => c.linux.map_or("", |(_, how)| how),
                _ => "",
            };
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#444\">{name}{}{note}</text>",
                LABEL - 6.0,
                by + 10.0,
                if note.is_empty() { "" } else { ": " }
            );
            let _ = writeln!(
                svg,
                "<rect x=\"{LABEL}\" y=\"{by:.1}\" width=\"{:.1}\" height=\"{BAR}\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                (x(*value) - LABEL).max(1.0),
                x(*value) + 4.0,
                by + 10.0,
                thousands(*value)
            );
            by += BAR + 2.0;
        }
        y += group_height(v);
    }
    let linux_note = if linux_measured { "Linux: measured in the same run" } else { "Linux: not run (--no-linux)" };
    let _ = writeln!(
        svg,
        "<text x=\"8\" y=\"{:.1}\" font-size=\"9\" fill=\"#666\">Moroso: cargo xtask bench, medians. {linux_note}. seL4: {SEL4_SOURCE}.</text>\n</svg>",
        height - 8.0
    );
    svg
}

/// `12,345`.
pub fn thousands(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
