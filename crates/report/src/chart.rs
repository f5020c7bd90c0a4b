//! Chart primitives shared by the figures: the embedded font, text, colours, the log2 batch-size
//! axis, series identity, horizontal bar panels and the heatmap colour scale.

use crate::analysis::{fmt_wait, Analysis, Curve};
use crate::ReportError;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;
use std::sync::OnceLock;

pub(crate) static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font as plotters' "sans-serif" (once per process).
pub(crate) fn ensure_font() -> Result<(), ReportError> {
    static OK: OnceLock<bool> = OnceLock::new();
    let ok = *OK.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    ok.then_some(())
        .ok_or_else(|| ReportError::Plot("embedded font could not be parsed".into()))
}

pub(crate) trait PlotResult<T> {
    fn pe(self) -> Result<T, ReportError>;
}
impl<T, E: std::fmt::Display> PlotResult<T> for Result<T, E> {
    fn pe(self) -> Result<T, ReportError> {
        self.map_err(|e| ReportError::Plot(e.to_string()))
    }
}

pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
pub(crate) const GRID: RGBColor = RGBColor(225, 225, 225);
pub(crate) const AXIS: RGBColor = RGBColor(90, 90, 90);
pub(crate) const MUTED: RGBColor = RGBColor(110, 110, 110);

pub(crate) fn mode_color(mode: &str, idx: usize) -> RGBColor {
    match mode {
        "ws" => RGBColor(70, 130, 180),
        "http" => RGBColor(240, 128, 80),
        _ => PALETTE[(idx + 2) % PALETTE.len()],
    }
}

pub(crate) fn mode_name(mode: &str) -> String {
    match mode {
        "ws" => "WebSocket".into(),
        "http" => "HTTP".into(),
        other => other.to_uppercase(),
    }
}

pub(crate) fn text_style(size: f64, color: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    // Fields set directly: the builder's `color(&C)` ties the style's lifetime to the argument.
    let mut style = TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(h, v));
    style.color = color.to_backend_color();
    style
}

pub(crate) fn draw_text(
    area: &Area,
    s: &str,
    at: (i32, i32),
    style: &TextStyle,
) -> Result<(), ReportError> {
    area.draw(&Text::new(s.to_string(), at, style.clone())).pe()
}

pub(crate) fn text_width(s: &str, style: &TextStyle) -> u32 {
    style.font.box_size(s).map(|(w, _)| w).unwrap_or(0)
}

/// A title line (and an optional smaller subtitle) at the top of a figure.
pub(crate) fn header(area: &Area, title: &str, subtitle: Option<&str>) -> Result<(), ReportError> {
    let (w, _) = area.dim_in_pixel();
    let mid = (w / 2) as i32;
    draw_text(
        area,
        title,
        (mid, 14),
        &text_style(28.0, BLACK, HPos::Center, VPos::Top),
    )?;
    if let Some(sub) = subtitle {
        draw_text(
            area,
            sub,
            (mid, 50),
            &text_style(17.0, MUTED, HPos::Center, VPos::Top),
        )?;
    }
    Ok(())
}

/// A 1-2-5 tick step giving about `ticks` ticks over `range`.
pub(crate) fn nice_step(range: f64, ticks: usize) -> f64 {
    let raw = (range / ticks.max(1) as f64).max(1e-12);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nf = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nf * mag
}

pub(crate) fn fmt_num(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Batch sizes are plotted on a log2 axis: x = log2(N), labelled with N at the powers of two.
pub(crate) fn log2_range(a: &Analysis) -> std::ops::Range<f64> {
    let sizes = a.batch_sizes();
    let lo = (*sizes.first().unwrap_or(&1) as f64).log2();
    let hi = (*sizes.last().unwrap_or(&1) as f64).log2();
    if hi - lo < 1.0 {
        (lo - 1.0)..(hi + 1.0)
    } else {
        (lo - 0.3)..(hi + 0.3)
    }
}

/// Batch-size label: multiples of 1024 from 1024 up are written compactly in binary units
/// (8192 -> "8k", 262144 -> "256k", 1048576 -> "1M"), so that the labels of a log2 axis fit
/// under their ticks; anything else (1000, 200000) is written in full, never rounded.
pub fn batch_label(n: u64) -> String {
    const K: u64 = 1024;
    if n >= K * K && n.is_multiple_of(K * K) {
        format!("{}M", n / (K * K))
    } else if n >= K && n.is_multiple_of(K) {
        format!("{}k", n / K)
    } else {
        n.to_string()
    }
}

/// Said under a batch-size axis whose labels may use [`batch_label`]'s units.
pub(crate) fn batch_units_note(a: &Analysis) -> &'static str {
    if a.batch_sizes().last().is_some_and(|&n| n >= 1024) {
        " · k = 1024"
    } else {
        ""
    }
}

/// At most this many labels on a log2 batch-size axis: more overlap in a ~700 px panel.
pub(crate) const MAX_POW2_LABELS: usize = 10;

/// Ticks of a log2 batch-size axis: one per power of two in `xr` (grid lines), labelled every
/// `stride`-th power counted down from the largest, so the largest tested N keeps its label.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pow2Axis {
    pub(crate) ticks: usize,
    pub(crate) stride: i64,
    pub(crate) top: i64,
}

impl Pow2Axis {
    pub(crate) fn new(xr: &std::ops::Range<f64>) -> Self {
        let (lo, top) = (xr.start.ceil() as i64, xr.end.floor() as i64);
        let ticks = (top - lo + 1).max(1) as usize;
        Pow2Axis {
            ticks,
            stride: ticks.div_ceil(MAX_POW2_LABELS).max(1) as i64,
            top,
        }
    }

    /// Label at x = log2(N): empty between powers of two and at the skipped ones.
    pub(crate) fn label(&self, v: &f64) -> String {
        let e = v.round();
        if (v - e).abs() > 1e-6 || e < 0.0 || (self.top - e as i64) % self.stride != 0 {
            return String::new();
        }
        batch_label(2f64.powf(e) as u64)
    }
}

/// Series identity shared by the figures: one color per (infra, wait), the same in every panel.
pub(crate) struct SeriesKeys {
    keys: Vec<(String, i64)>,
    many_waits: bool,
}

impl SeriesKeys {
    pub(crate) fn new(a: &Analysis) -> Self {
        let mut keys: Vec<(String, i64)> = Vec::new();
        for c in a.curves() {
            let k = (c.infra.clone(), crate::analysis::wait_key(c.wait));
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        SeriesKeys {
            keys,
            many_waits: a.waits().len() > 1,
        }
    }

    pub(crate) fn color(&self, c: &Curve) -> RGBColor {
        let k = (c.infra.clone(), crate::analysis::wait_key(c.wait));
        let i = self.keys.iter().position(|x| *x == k).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    }

    pub(crate) fn label(&self, c: &Curve) -> String {
        if self.many_waits {
            format!("{}, wait {} s", c.infra, fmt_wait(c.wait))
        } else {
            c.infra.clone()
        }
    }
}
/// One group of horizontal bars (an infrastructure) in a bar panel.
#[derive(Clone)]
pub(crate) struct BarGroup {
    pub(crate) label: String,
    /// One value per series; `None` draws the matching `missing` text instead of a bar.
    pub(crate) values: Vec<Option<f64>>,
    pub(crate) missing: Vec<&'static str>,
    /// The value is a lower bound: every N passed, up to the largest tested.
    pub(crate) lower_bound: Vec<bool>,
}

pub(crate) struct BarPanel {
    pub(crate) title: String,
    pub(crate) groups: Vec<BarGroup>,
}

/// Horizontal grouped bars, drawn by hand: long infrastructure names fit on the left, every bar
/// carries its value, panels stack vertically (one per wait).
pub(crate) fn hbar_figure(
    path: &Path,
    title: &str,
    subtitle: &str,
    series: &[(String, RGBColor)],
    panels: &[BarPanel],
    x_desc: &str,
    empty_note: &str,
) -> Result<(), ReportError> {
    const W: u32 = 1400;
    const BAR_H: i32 = 28;
    const GROUP_GAP: i32 = 18;
    const PANEL_TITLE: i32 = 44;
    const AXIS_H: i32 = 70;
    let bars = series.len().max(1) as i32;
    let group_h = bars * BAR_H + GROUP_GAP;
    let panel_h = |p: &BarPanel| PANEL_TITLE + (p.groups.len().max(1) as i32) * group_h + AXIS_H;
    let top = 130;
    let height = top + panels.iter().map(panel_h).sum::<i32>() + 20;
    let root = BitMapBackend::new(path, (W, height as u32)).into_drawing_area();
    root.fill(&WHITE).pe()?;
    header(&root, title, Some(subtitle))?;

    // Legend, centered under the header.
    let legend_style = text_style(18.0, BLACK, HPos::Left, VPos::Center);
    let widths: Vec<i32> = series
        .iter()
        .map(|(n, _)| 30 + text_width(n, &legend_style) as i32 + 30)
        .collect();
    let mut lx = (W as i32 - widths.iter().sum::<i32>()) / 2;
    for ((name, color), w) in series.iter().zip(&widths) {
        root.draw(&Rectangle::new([(lx, 88), (lx + 22, 106)], color.filled()))
            .pe()?;
        draw_text(&root, name, (lx + 30, 97), &legend_style)?;
        lx += w;
    }

    let label_style = text_style(18.0, BLACK, HPos::Right, VPos::Center);
    let all_labels = panels
        .iter()
        .flat_map(|p| p.groups.iter().map(|g| &g.label));
    let label_w = all_labels
        .map(|l| text_width(l, &label_style))
        .max()
        .unwrap_or(0)
        .min(W * 45 / 100) as i32;
    let x0 = 30 + label_w + 16;
    let x1 = W as i32 - 230;
    let vmax = panels
        .iter()
        .flat_map(|p| p.groups.iter().flat_map(|g| g.values.iter().flatten()))
        .fold(0f64, |m, v| m.max(*v));
    let step = nice_step(if vmax > 0.0 { vmax } else { 1.0 }, 6);
    let axis_max = ((vmax.max(step) / step).ceil() * step).max(step);
    let px = |v: f64| x0 + ((v / axis_max) * (x1 - x0) as f64).round() as i32;

    let tick_style = text_style(16.0, AXIS, HPos::Center, VPos::Top);
    let value_style = text_style(16.0, BLACK, HPos::Left, VPos::Center);
    let missing_style = text_style(16.0, MUTED, HPos::Left, VPos::Center);
    let mut y = top;
    for p in panels {
        draw_text(
            &root,
            &p.title,
            ((x0 + x1) / 2, y + 8),
            &text_style(21.0, BLACK, HPos::Center, VPos::Top),
        )?;
        let plot_top = y + PANEL_TITLE;
        let plot_bottom = plot_top + (p.groups.len().max(1) as i32) * group_h;
        if p.groups.is_empty() {
            draw_text(
                &root,
                empty_note,
                ((x0 + x1) / 2, (plot_top + plot_bottom) / 2),
                &text_style(18.0, MUTED, HPos::Center, VPos::Center),
            )?;
            y += panel_h(p);
            continue;
        }
        // Grid and ticks.
        let mut t = 0.0;
        while t <= axis_max + step * 1e-9 {
            let x = px(t);
            root.draw(&PathElement::new(
                vec![(x, plot_top), (x, plot_bottom)],
                GRID,
            ))
            .pe()?;
            draw_text(&root, &fmt_num(t), (x, plot_bottom + 6), &tick_style)?;
            t += step;
        }
        root.draw(&PathElement::new(
            vec![(x0, plot_top), (x0, plot_bottom), (x1, plot_bottom)],
            AXIS.stroke_width(1),
        ))
        .pe()?;
        draw_text(
            &root,
            x_desc,
            ((x0 + x1) / 2, plot_bottom + 34),
            &text_style(18.0, BLACK, HPos::Center, VPos::Top),
        )?;
        for (gi, g) in p.groups.iter().enumerate() {
            let gy = plot_top + GROUP_GAP / 2 + gi as i32 * group_h;
            draw_text(
                &root,
                &g.label,
                (x0 - 12, gy + bars * BAR_H / 2),
                &label_style,
            )?;
            for (si, ((_, color), v)) in series.iter().zip(&g.values).enumerate() {
                let by = gy + si as i32 * BAR_H;
                match v {
                    Some(v) => {
                        let xe = px(*v).max(x0 + 1);
                        root.draw(&Rectangle::new(
                            [(x0 + 1, by + 2), (xe, by + BAR_H - 2)],
                            color.filled(),
                        ))
                        .pe()?;
                        let label = if g.lower_bound.get(si).copied().unwrap_or(false) {
                            format!("≥ {} (lower bound)", fmt_num(*v))
                        } else {
                            fmt_num(*v)
                        };
                        draw_text(&root, &label, (xe + 6, by + BAR_H / 2), &value_style)?;
                    }
                    None => {
                        let txt = g.missing.get(si).copied().unwrap_or("-");
                        draw_text(&root, txt, (x0 + 8, by + BAR_H / 2), &missing_style)?;
                    }
                }
            }
        }
        y += panel_h(p);
    }
    root.present().pe()
}

/// Indices of at most `max` of `len` items, evenly spaced, the first and the last kept: what a
/// figure draws when one element per item would make it unboundedly large.
pub(crate) fn sample_evenly(len: usize, max: usize) -> Vec<usize> {
    if len <= max || max < 2 {
        return (0..len.min(max)).collect();
    }
    (0..max).map(|i| i * (len - 1) / (max - 1)).collect()
}

/// Yellow-orange-red, the Python original's heatmap colormap, sampled at `t` in 0..=1.
pub(crate) fn ylorrd(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 5] = [
        (255, 255, 204),
        (254, 217, 118),
        (253, 141, 60),
        (227, 26, 28),
        (128, 0, 38),
    ];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let lerp = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_keeps_the_ends_and_spaces_evenly() {
        assert_eq!(sample_evenly(5, 10), [0, 1, 2, 3, 4]);
        assert_eq!(sample_evenly(20_000, 32).len(), 32);
        let s = sample_evenly(20_000, 32);
        assert_eq!((s[0], s[31]), (0, 19_999));
        assert!(
            s.windows(2).all(|w| (644..=646).contains(&(w[1] - w[0]))),
            "{s:?}"
        );
        assert_eq!(sample_evenly(0, 32), Vec::<usize>::new());
    }

    #[test]
    fn batch_labels_are_compact_in_binary_units_only() {
        let got: Vec<String> = [1, 512, 1000, 1024, 8192, 16384, 262144, 1 << 20, 3 << 20]
            .into_iter()
            .map(batch_label)
            .collect();
        assert_eq!(
            got,
            ["1", "512", "1000", "1k", "8k", "16k", "256k", "1M", "3M"]
        );
        // Not multiples of 1024: written in full, never rounded to a misleading "k".
        assert_eq!(batch_label(200_000), "200000");
        assert_eq!(batch_label(1536), "1536");
        assert_eq!(batch_label(1024 * 1000), "1000k");
    }

    #[test]
    fn log2_axis_labels_at_most_ten_powers_keeping_the_largest() {
        // N = 1 ... 262144 (2^18), padded as log2_range does: 19 powers -> every other one,
        // counted down from 2^18.
        let axis = Pow2Axis::new(&(-0.3..18.3));
        assert_eq!(axis.ticks, 19);
        let labels: Vec<String> = (0..=18)
            .map(|e| axis.label(&(e as f64)))
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(
            labels,
            ["1", "4", "16", "64", "256", "1k", "4k", "16k", "64k", "256k"]
        );
        assert_eq!(axis.label(&17.0), "");
        assert_eq!(axis.label(&17.5), "");
        // Few powers (N = 1 ... 64): every one labelled.
        let small = Pow2Axis::new(&(-0.3..6.3));
        let all: Vec<String> = (0..=6).map(|e| small.label(&(e as f64))).collect();
        assert_eq!(all, ["1", "2", "4", "8", "16", "32", "64"]);
        // Ticks left of 2^0 (a one-point grid is padded by ±1) get no label.
        assert_eq!(Pow2Axis::new(&(-1.0..1.0)).label(&-1.0), "");
    }
}
