//! PNG figures, drawn with plotters' bitmap backend. All text is rendered by ab_glyph from the
//! DejaVu Sans font embedded in the binary, so figures look the same on any machine and need no
//! system fonts.

use crate::analysis::{fmt_wait, Analysis, Curve};
use crate::ReportError;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

pub const SCALING_CURVES: &str = "scaling_curves.png";
pub const MAX_BATCH_COMPARISON: &str = "max_batch_comparison.png";
pub const LATENCY_HEATMAP: &str = "latency_heatmap.png";
pub const BATCH_PER_CORE: &str = "batch_per_core.png";
pub const LATENCY_PERCENTILES: &str = "latency_percentiles.png";

/// Every figure `write_figures` produces, in order.
pub const ALL: [&str; 5] = [
    SCALING_CURVES,
    MAX_BATCH_COMPARISON,
    LATENCY_HEATMAP,
    BATCH_PER_CORE,
    LATENCY_PERCENTILES,
];

/// Registers the embedded font as plotters' "sans-serif" (once per process).
fn ensure_font() -> Result<(), ReportError> {
    static OK: OnceLock<bool> = OnceLock::new();
    let ok = *OK.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    ok.then_some(())
        .ok_or_else(|| ReportError::Plot("embedded font could not be parsed".into()))
}

trait PlotResult<T> {
    fn pe(self) -> Result<T, ReportError>;
}
impl<T, E: std::fmt::Display> PlotResult<T> for Result<T, E> {
    fn pe(self) -> Result<T, ReportError> {
        self.map_err(|e| ReportError::Plot(e.to_string()))
    }
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

const PALETTE: [RGBColor; 10] = [
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
const GRID: RGBColor = RGBColor(225, 225, 225);
const AXIS: RGBColor = RGBColor(90, 90, 90);
const MUTED: RGBColor = RGBColor(110, 110, 110);

fn mode_color(mode: &str, idx: usize) -> RGBColor {
    match mode {
        "ws" => RGBColor(70, 130, 180),
        "http" => RGBColor(240, 128, 80),
        _ => PALETTE[(idx + 2) % PALETTE.len()],
    }
}

fn mode_name(mode: &str) -> String {
    match mode {
        "ws" => "WebSocket".into(),
        "http" => "HTTP".into(),
        other => other.to_uppercase(),
    }
}

fn text_style(size: f64, color: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    // Fields set directly: the builder's `color(&C)` ties the style's lifetime to the argument.
    let mut style = TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(h, v));
    style.color = color.to_backend_color();
    style
}

fn draw_text(area: &Area, s: &str, at: (i32, i32), style: &TextStyle) -> Result<(), ReportError> {
    area.draw(&Text::new(s.to_string(), at, style.clone())).pe()
}

fn text_width(s: &str, style: &TextStyle) -> u32 {
    style.font.box_size(s).map(|(w, _)| w).unwrap_or(0)
}

/// A title line (and an optional smaller subtitle) at the top of a figure.
fn header(area: &Area, title: &str, subtitle: Option<&str>) -> Result<(), ReportError> {
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
fn nice_step(range: f64, ticks: usize) -> f64 {
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

fn fmt_num(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Batch sizes are plotted on a log2 axis: x = log2(N), labelled with N at the powers of two.
fn log2_range(a: &Analysis) -> std::ops::Range<f64> {
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
fn batch_units_note(a: &Analysis) -> &'static str {
    if a.batch_sizes().last().is_some_and(|&n| n >= 1024) {
        " · k = 1024"
    } else {
        ""
    }
}

/// At most this many labels on a log2 batch-size axis: more overlap in a ~700 px panel.
const MAX_POW2_LABELS: usize = 10;

/// Ticks of a log2 batch-size axis: one per power of two in `xr` (grid lines), labelled every
/// `stride`-th power counted down from the largest, so the largest tested N keeps its label.
#[derive(Debug, Clone, Copy)]
struct Pow2Axis {
    ticks: usize,
    stride: i64,
    top: i64,
}

impl Pow2Axis {
    fn new(xr: &std::ops::Range<f64>) -> Self {
        let (lo, top) = (xr.start.ceil() as i64, xr.end.floor() as i64);
        let ticks = (top - lo + 1).max(1) as usize;
        Pow2Axis {
            ticks,
            stride: ticks.div_ceil(MAX_POW2_LABELS).max(1) as i64,
            top,
        }
    }

    /// Label at x = log2(N): empty between powers of two and at the skipped ones.
    fn label(&self, v: &f64) -> String {
        let e = v.round();
        if (v - e).abs() > 1e-6 || e < 0.0 || (self.top - e as i64) % self.stride != 0 {
            return String::new();
        }
        batch_label(2f64.powf(e) as u64)
    }
}

/// Series identity shared by the figures: one color per (infra, wait), the same in every panel.
struct SeriesKeys {
    keys: Vec<(String, i64)>,
    many_waits: bool,
}

impl SeriesKeys {
    fn new(a: &Analysis) -> Self {
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

    fn color(&self, c: &Curve) -> RGBColor {
        let k = (c.infra.clone(), crate::analysis::wait_key(c.wait));
        let i = self.keys.iter().position(|x| *x == k).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    }

    fn label(&self, c: &Curve) -> String {
        if self.many_waits {
            format!("{}, wait {} s", c.infra, fmt_wait(c.wait))
        } else {
            c.infra.clone()
        }
    }
}

/// Success rate vs batch size, one panel per mode, one line per infrastructure (and wait).
pub fn scaling_curves(a: &Analysis, path: &Path) -> Result<(), ReportError> {
    let modes = a.modes();
    let keys = SeriesKeys::new(a);
    let panel_w = if modes.len() > 1 { 760u32 } else { 1000 };
    let root =
        BitMapBackend::new(path, (panel_w * modes.len().max(1) as u32, 680)).into_drawing_area();
    root.fill(&WHITE).pe()?;
    let waits: Vec<String> = a.waits().into_iter().map(fmt_wait).collect();
    header(
        &root,
        "Success rate vs batch size",
        Some(&format!(
            "mean over repetitions · wait {} s · dashed line: {:.0}% threshold",
            waits.join(", "),
            a.threshold * 100.0
        )),
    )?;
    let body = root.margin(80, 10, 10, 10);
    let xr = log2_range(a);
    let x_axis = Pow2Axis::new(&xr);
    let x_desc = format!(
        "batch size N (concurrent sessions, log scale{})",
        batch_units_note(a)
    );
    for (panel, mode) in body
        .split_evenly((1, modes.len().max(1)))
        .iter()
        .zip(&modes)
    {
        let mut chart = ChartBuilder::on(panel)
            .caption(mode_name(mode), ("sans-serif", 24))
            .margin(12)
            .margin_right(28)
            .x_label_area_size(60)
            .y_label_area_size(75)
            .build_cartesian_2d(xr.clone(), -3f64..105f64)
            .pe()?;
        chart
            .configure_mesh()
            .x_labels(x_axis.ticks)
            .x_label_formatter(&|v| x_axis.label(v))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .x_desc(&x_desc)
            .y_desc("success rate (%)")
            .label_style(("sans-serif", 17))
            .axis_desc_style(("sans-serif", 19))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .draw()
            .pe()?;
        let t = a.threshold * 100.0;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(xr.start, t), (xr.end, t)],
                10,
                7,
                RED.mix(0.7).stroke_width(2),
            ))
            .pe()?;
        let in_panel: Vec<&Curve> = a.curves().filter(|c| &c.mode == mode).collect();
        for (si, c) in in_panel.iter().enumerate() {
            // Earlier series are drawn wider, so lines that coincide (all at 100%) stay visible.
            let k = in_panel.len() - 1 - si;
            let width = 2 + 2 * k.min(2) as u32;
            let radius = 4 + 2 * k.min(3) as i32;
            let color = keys.color(c);
            let pts: Vec<(f64, f64)> = c
                .points
                .iter()
                .map(|p| ((p.batch_size as f64).log2(), p.mean_success * 100.0))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(width)))
                .pe()?
                .label(keys.label(c))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(4))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, radius, color.filled())))
                .pe()?;
            // Saturated cells get a black ring: the client, not the server, may be the limit.
            chart
                .draw_series(c.points.iter().filter(|p| p.saturated_reps > 0).map(|p| {
                    Circle::new(
                        ((p.batch_size as f64).log2(), p.mean_success * 100.0),
                        radius + 4,
                        BLACK.stroke_width(2),
                    )
                }))
                .pe()?;
        }
        if in_panel
            .iter()
            .any(|c| c.points.iter().any(|p| p.saturated_reps > 0))
        {
            // An empty series, only to explain the ring in the legend.
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .pe()?
                .label("ring: load generator saturated")
                .legend(|(x, y)| Circle::new((x + 12, y), 7, BLACK.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(AXIS)
            .label_font(("sans-serif", 17))
            .margin(12)
            .draw()
            .pe()?;
    }
    root.present().pe()
}

/// One group of horizontal bars (an infrastructure) in a bar panel.
struct BarGroup {
    label: String,
    /// One value per series; `None` draws the matching `missing` text instead of a bar.
    values: Vec<Option<f64>>,
    missing: Vec<&'static str>,
    /// The value is a lower bound: every N passed, up to the largest tested.
    lower_bound: Vec<bool>,
}

struct BarPanel {
    title: String,
    groups: Vec<BarGroup>,
}

/// Horizontal grouped bars, drawn by hand: long infrastructure names fit on the left, every bar
/// carries its value, panels stack vertically (one per wait).
fn hbar_figure(
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
                            format!("≥ {} (every N passed)", fmt_num(*v))
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

/// The text drawn instead of a bar: not measured, or measured and nothing passed.
fn missing_text(c: Option<&Curve>) -> &'static str {
    match c {
        None => "not measured",
        Some(_) => "no N reached the threshold",
    }
}

fn above_grid(c: Option<&Curve>) -> bool {
    c.is_some_and(Curve::limit_above_grid)
}

/// Max batch by infrastructure and protocol, one panel per wait.
pub fn max_batch_comparison(a: &Analysis, path: &Path) -> Result<(), ReportError> {
    let modes = a.modes();
    let series: Vec<(String, RGBColor)> = modes
        .iter()
        .enumerate()
        .map(|(i, m)| (mode_name(m), mode_color(m, i)))
        .collect();
    let panels: Vec<BarPanel> = a
        .waits()
        .into_iter()
        .map(|w| BarPanel {
            title: format!("wait = {} s", fmt_wait(w)),
            groups: a
                .infras
                .iter()
                .filter(|i| modes.iter().any(|m| i.curve(m, w).is_some()))
                .map(|i| BarGroup {
                    label: i.infra.clone(),
                    values: modes
                        .iter()
                        .map(|m| i.max_batch(m, w).map(|n| n as f64))
                        .collect(),
                    missing: modes.iter().map(|m| missing_text(i.curve(m, w))).collect(),
                    lower_bound: modes.iter().map(|m| above_grid(i.curve(m, w))).collect(),
                })
                .collect(),
        })
        .collect();
    hbar_figure(
        path,
        "Maximum batch size by infrastructure and protocol",
        &format!(
            "largest N whose mean success rate over repetitions is ≥ {:.0}%",
            a.threshold * 100.0
        ),
        &series,
        &panels,
        "max batch size (concurrent sessions)",
        "no data",
    )
}

/// Max batch divided by the infrastructure's cores (from run.json or --cores).
pub fn batch_per_core(a: &Analysis, path: &Path) -> Result<(), ReportError> {
    let modes = a.modes();
    let series: Vec<(String, RGBColor)> = modes
        .iter()
        .enumerate()
        .map(|(i, m)| (mode_name(m), mode_color(m, i)))
        .collect();
    let unknown: Vec<&str> = a
        .infras
        .iter()
        .filter(|i| i.cores.is_none())
        .map(|i| i.infra.as_str())
        .collect();
    let panels: Vec<BarPanel> = a
        .waits()
        .into_iter()
        .map(|w| BarPanel {
            title: format!("wait = {} s", fmt_wait(w)),
            groups: a
                .infras
                .iter()
                .filter_map(|i| i.cores.map(|(k, _)| (i, k)))
                .filter(|(i, _)| modes.iter().any(|m| i.curve(m, w).is_some()))
                .map(|(i, k)| BarGroup {
                    label: format!("{} ({} core{})", i.infra, k, if k == 1 { "" } else { "s" }),
                    values: modes
                        .iter()
                        .map(|m| i.max_batch(m, w).map(|n| n as f64 / k as f64))
                        .collect(),
                    missing: modes.iter().map(|m| missing_text(i.curve(m, w))).collect(),
                    lower_bound: modes.iter().map(|m| above_grid(i.curve(m, w))).collect(),
                })
                .collect(),
        })
        .collect();
    let subtitle = match unknown.len() {
        0 => "max batch / cores (cores from run.json or --cores)".to_string(),
        1 => format!(
            "max batch / cores · cores unknown for {} (pass --cores INFRA=N)",
            unknown[0]
        ),
        k => format!(
            "max batch / cores · cores unknown for {k} infrastructures (pass --cores INFRA=N)"
        ),
    };
    // Without any core count, one panel with the note instead of one empty panel per wait.
    let panels = if panels.iter().all(|p| p.groups.is_empty()) {
        vec![BarPanel {
            title: String::new(),
            groups: vec![],
        }]
    } else {
        panels
    };
    hbar_figure(
        path,
        "Sessions per core at max batch",
        &subtitle,
        &series,
        &panels,
        "max batch per core (sessions)",
        "no core counts known: write run.json with \"cores\" or pass --cores INFRA=N",
    )
}

/// Yellow-orange-red, the seed's heatmap colormap, sampled at `t` in 0..=1.
fn ylorrd(t: f64) -> RGBColor {
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

/// Total p99 latency over (infrastructure · mode · wait) × batch size, log color scale.
pub fn latency_heatmap(a: &Analysis, path: &Path) -> Result<(), ReportError> {
    let sizes = a.batch_sizes();
    let rows: Vec<&Curve> = a.curves().collect();
    // Mean over repetitions of total p99; a cell with no successful session has no latency.
    let value = |c: &Curve, n: u64| {
        c.point(n)
            .and_then(|p| p.mean_of(|r| r.total_p99))
            .filter(|v| *v > 0.0)
    };
    let vals: Vec<f64> = rows
        .iter()
        .flat_map(|c| sizes.iter().filter_map(move |&n| value(c, n)))
        .collect();
    let vmin = vals.iter().cloned().fold(f64::INFINITY, f64::min);
    let vmax = vals.iter().cloned().fold(0f64, f64::max);
    // Log color scale spanning at least a factor of 2, so that a spread of a few percent (every
    // cell close to the wait) shows as such instead of filling the whole colormap.
    let (lmin, lmax) = if vals.is_empty() {
        (0.0, 1.0)
    } else {
        (vmin.ln(), vmax.ln().max(vmin.ln() + std::f64::consts::LN_2))
    };
    let t_of = |v: f64| (v.ln() - lmin) / (lmax - lmin);

    let many_waits = a.waits().len() > 1;
    let row_label = |c: &Curve| {
        let mut s = format!("{} · {}", c.infra, mode_name(&c.mode));
        if many_waits {
            s.push_str(&format!(" · wait {} s", fmt_wait(c.wait)));
        }
        s
    };
    const CELL_W: i32 = 96;
    const CELL_H: i32 = 52;
    const TOP: i32 = 100;
    let label_style = text_style(18.0, BLACK, HPos::Right, VPos::Center);
    let label_w = rows
        .iter()
        .map(|c| text_width(&row_label(c), &label_style) as i32)
        .max()
        .unwrap_or(0);
    let x0 = 30 + label_w + 14;
    let grid_w = CELL_W * sizes.len().max(1) as i32;
    let width = (x0 + grid_w + 170).max(900);
    let height = TOP + CELL_H * rows.len().max(1) as i32 + 90;
    let root = BitMapBackend::new(path, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE).pe()?;
    header(
        &root,
        "Total latency p99 (seconds)",
        Some(&format!(
            "mean over repetitions · gray: not measured or no successful session · \
             \"ok\": success rate where below {:.0}%",
            a.threshold * 100.0
        )),
    )?;
    let value_fmt = |v: f64| {
        if v >= 100.0 {
            format!("{v:.0}")
        } else if v >= 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.3}")
        }
    };
    for (ri, c) in rows.iter().enumerate() {
        let y = TOP + ri as i32 * CELL_H;
        draw_text(
            &root,
            &row_label(c),
            (x0 - 12, y + CELL_H / 2),
            &label_style,
        )?;
        for (ci, &n) in sizes.iter().enumerate() {
            let x = x0 + ci as i32 * CELL_W;
            let cell = [(x + 1, y + 1), (x + CELL_W - 1, y + CELL_H - 1)];
            match value(c, n) {
                Some(v) => {
                    let t = t_of(v);
                    root.draw(&Rectangle::new(cell, ylorrd(t).filled())).pe()?;
                    let fg = if t > 0.6 { WHITE } else { BLACK };
                    let ok = c.point(n).map(|p| p.mean_success).unwrap_or(1.0);
                    if ok < a.threshold {
                        draw_text(
                            &root,
                            &value_fmt(v),
                            (x + CELL_W / 2, y + CELL_H / 2 - 10),
                            &text_style(17.0, fg, HPos::Center, VPos::Center),
                        )?;
                        draw_text(
                            &root,
                            &format!("ok {:.0}%", ok * 100.0),
                            (x + CELL_W / 2, y + CELL_H / 2 + 12),
                            &text_style(14.0, fg, HPos::Center, VPos::Center),
                        )?;
                    } else {
                        draw_text(
                            &root,
                            &value_fmt(v),
                            (x + CELL_W / 2, y + CELL_H / 2),
                            &text_style(17.0, fg, HPos::Center, VPos::Center),
                        )?;
                    }
                }
                None => {
                    root.draw(&Rectangle::new(cell, RGBColor(238, 238, 238).filled()))
                        .pe()?;
                    draw_text(
                        &root,
                        "-",
                        (x + CELL_W / 2, y + CELL_H / 2),
                        &text_style(17.0, MUTED, HPos::Center, VPos::Center),
                    )?;
                }
            }
        }
    }
    let grid_bottom = TOP + CELL_H * rows.len() as i32;
    for (ci, n) in sizes.iter().enumerate() {
        draw_text(
            &root,
            &batch_label(*n),
            (x0 + ci as i32 * CELL_W + CELL_W / 2, grid_bottom + 8),
            &text_style(17.0, BLACK, HPos::Center, VPos::Top),
        )?;
    }
    draw_text(
        &root,
        &format!("batch size N (concurrent sessions{})", batch_units_note(a)),
        (x0 + grid_w / 2, grid_bottom + 40),
        &text_style(19.0, BLACK, HPos::Center, VPos::Top),
    )?;
    // Color bar (log scale) on the right.
    let bx = x0 + grid_w + 40;
    let (by0, by1) = (TOP, grid_bottom.max(TOP + 120));
    for yy in by0..by1 {
        let t = 1.0 - (yy - by0) as f64 / (by1 - by0) as f64;
        root.draw(&PathElement::new(vec![(bx, yy), (bx + 24, yy)], ylorrd(t)))
            .pe()?;
    }
    root.draw(&Rectangle::new(
        [(bx, by0), (bx + 24, by1)],
        AXIS.stroke_width(1),
    ))
    .pe()?;
    if !vals.is_empty() {
        let tick = text_style(15.0, BLACK, HPos::Left, VPos::Center);
        for t in [0.0, 0.5, 1.0] {
            let v = (lmin + t * (lmax - lmin)).exp();
            let yy = by1 - (t * (by1 - by0) as f64).round() as i32;
            draw_text(&root, &format!("{} s", value_fmt(v)), (bx + 30, yy), &tick)?;
        }
    }
    root.present().pe()
}

/// Total latency percentiles (p50/p90/p95/p99) vs batch size, one panel per curve.
pub fn latency_percentiles(a: &Analysis, path: &Path) -> Result<(), ReportError> {
    let curves: Vec<&Curve> = a.curves().collect();
    let n = curves.len().max(1);
    let cols = n.min(3);
    let rows = n.div_ceil(cols);
    let (pw, ph) = (if cols == 1 { 1000u32 } else { 700 }, 470u32);
    let root =
        BitMapBackend::new(path, (pw * cols as u32, ph * rows as u32 + 90)).into_drawing_area();
    root.fill(&WHITE).pe()?;
    header(
        &root,
        "Total session latency percentiles vs batch size",
        Some("connect + reset + step, successful sessions, mean over repetitions · dashed: the step's wait · hollow: below threshold"),
    )?;
    let body = root.margin(90, 0, 0, 0);
    let xr = log2_range(a);
    let x_axis = Pow2Axis::new(&xr);
    let x_desc = format!("batch size N (log scale{})", batch_units_note(a));
    type Getter = fn(&crate::summary::SummaryRow) -> Option<f64>;
    let pcts: [(&str, Getter, RGBColor); 4] = [
        ("p50", |r| r.total_p50, RGBColor(44, 160, 44)),
        ("p90", |r| r.total_p90, RGBColor(31, 119, 180)),
        ("p95", |r| r.total_p95, RGBColor(255, 127, 14)),
        ("p99", |r| r.total_p99, RGBColor(214, 39, 40)),
    ];
    for (panel, c) in body.split_evenly((rows, cols)).iter().zip(&curves) {
        let p99s: Vec<f64> = c
            .points
            .iter()
            .filter_map(|p| p.mean_of(|r| r.total_p99))
            .filter(|v| *v > 0.0)
            .collect();
        let p50_min = c
            .points
            .iter()
            .filter_map(|p| p.mean_of(|r| r.total_p50))
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        let top = p99s.iter().cloned().fold(c.wait, f64::max).max(0.001);
        // Start at 0 unless everything sits in a narrow band (e.g. all close to the wait): then
        // zoom in on the band, or the percentiles would be one flat line.
        let floor = p50_min;
        let (ymin, ymax) = if floor.is_finite() && floor > 0.0 && top / floor < 1.5 {
            let pad = ((top - floor) * 0.25).max(top * 0.005);
            ((floor - pad).max(0.0), top + pad)
        } else {
            (0.0, top * 1.12)
        };
        let prec = ((5.0 / (ymax - ymin)).log10().ceil().max(0.0) as usize).min(4);
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "{} · {} · wait {} s",
                    c.infra,
                    mode_name(&c.mode),
                    fmt_wait(c.wait)
                ),
                ("sans-serif", 19),
            )
            .margin(12)
            .x_label_area_size(52)
            .y_label_area_size(70)
            .build_cartesian_2d(xr.clone(), ymin..ymax)
            .pe()?;
        chart
            .configure_mesh()
            .x_labels(x_axis.ticks)
            .x_label_formatter(&|v| x_axis.label(v))
            .y_labels(6)
            .y_label_formatter(&|v| format!("{v:.prec$}"))
            .x_desc(&x_desc)
            .y_desc("seconds")
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .draw()
            .pe()?;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(xr.start, c.wait), (xr.end, c.wait)],
                8,
                6,
                MUTED.stroke_width(1),
            ))
            .pe()?;
        // p99 first, so the lower percentiles stay visible where they coincide.
        for (name, get, color) in pcts.into_iter().rev() {
            let pts: Vec<(f64, f64, bool)> = c
                .points
                .iter()
                .filter_map(|p| {
                    p.mean_of(get).filter(|v| *v > 0.0).map(|v| {
                        (
                            (p.batch_size as f64).log2(),
                            v,
                            p.mean_success >= a.threshold,
                        )
                    })
                })
                .collect();
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|&(x, y, _)| (x, y)),
                    color.stroke_width(2),
                ))
                .pe()?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                });
            chart
                .draw_series(pts.iter().map(|&(x, y, ok)| {
                    let style = if ok {
                        color.filled()
                    } else {
                        color.stroke_width(2)
                    };
                    Circle::new((x, y), 4, style)
                }))
                .pe()?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(AXIS)
            .label_font(("sans-serif", 15))
            .margin(8)
            .draw()
            .pe()?;
    }
    root.present().pe()
}

/// Writes every figure into `dir` (created if needed) and returns their paths.
pub fn write_figures(a: &Analysis, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    ensure_font()?;
    if a.curves().next().is_none() {
        return Err(ReportError::NoData);
    }
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    type Draw = fn(&Analysis, &Path) -> Result<(), ReportError>;
    let figures: [(&str, Draw); 5] = [
        (SCALING_CURVES, scaling_curves),
        (MAX_BATCH_COMPARISON, max_batch_comparison),
        (LATENCY_HEATMAP, latency_heatmap),
        (BATCH_PER_CORE, batch_per_core),
        (LATENCY_PERCENTILES, latency_percentiles),
    ];
    let mut out = Vec::new();
    for (name, draw) in figures {
        let path = dir.join(name);
        draw(a, &path)?;
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
