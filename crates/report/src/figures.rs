//! PNG figures, drawn with plotters' bitmap backend. All text is rendered by ab_glyph from the
//! DejaVu Sans font embedded in the binary, so figures look the same on any machine and need no
//! system fonts.

use crate::analysis::{fmt_wait, Analysis, Curve};
use crate::chart::{
    batch_units_note, draw_text, ensure_font, hbar_figure, header, log2_range, mode_color,
    mode_name, sample_evenly, text_style, text_width, ylorrd, BarGroup, BarPanel, PlotResult,
    Pow2Axis, SeriesKeys, AXIS, GRID, MUTED,
};
use crate::output::Staging;
use crate::ReportError;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::path::{Path, PathBuf};

pub use crate::chart::batch_label;

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

/// At most this many panels side by side (modes), stacked (waits of a bar figure) or in a grid
/// (curves of the percentiles figure), and bar groups (infrastructures) per panel.
pub const MAX_MODE_PANELS: usize = 4;
pub const MAX_BAR_PANELS: usize = 6;
pub const MAX_BAR_GROUPS: usize = 40;
pub const MAX_CURVE_PANELS: usize = 12;

/// `items`, or at most `max` of them evenly spaced; what was left out is added to `notes`
/// ("6 of 9 waits"), for the figure to say.
fn bounded<T: Clone>(items: Vec<T>, max: usize, what: &str, notes: &mut Vec<String>) -> Vec<T> {
    if items.len() <= max {
        return items;
    }
    notes.push(format!("{max} of {} {what}", items.len()));
    sample_evenly(items.len(), max)
        .into_iter()
        .map(|i| items[i].clone())
        .collect()
}

/// Each bar panel keeps at most [`MAX_BAR_GROUPS`] infrastructures; one note says so for all.
fn bound_groups(panels: Vec<BarPanel>, notes: &mut Vec<String>) -> Vec<BarPanel> {
    let mut group_notes = Vec::new();
    let panels = panels
        .into_iter()
        .map(|p| BarPanel {
            groups: bounded(
                p.groups,
                MAX_BAR_GROUPS,
                "infrastructures",
                &mut group_notes,
            ),
            ..p
        })
        .collect();
    notes.extend(group_notes.into_iter().take(1));
    panels
}

/// " · showing 6 of 9 waits (evenly spaced)" when something was left out of a figure.
fn shown_note(notes: &[String]) -> String {
    if notes.is_empty() {
        String::new()
    } else {
        format!(" · showing {} (evenly spaced)", notes.join(", "))
    }
}

/// Success rate vs batch size, one panel per mode, one line per infrastructure (and wait).
pub fn scaling_curves(a: &Analysis, path: &Path) -> Result<(), ReportError> {
    let mut notes = Vec::new();
    let modes = bounded(a.modes(), MAX_MODE_PANELS, "modes", &mut notes);
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
            "mean over repetitions · wait {} s · dashed line: {:.0}% threshold{}",
            waits.join(", "),
            a.threshold * 100.0,
            shown_note(&notes)
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

/// The text drawn instead of a bar: not measured, or measured and nothing passed.
fn missing_text(c: Option<&Curve>) -> &'static str {
    match c {
        None => "not measured",
        Some(_) => "no N reached the threshold",
    }
}

/// The bar is a lower bound: every N of the grid passed, or the search stopped before the
/// server failed.
fn above_grid(c: Option<&Curve>) -> bool {
    c.is_some_and(|c| c.limit_above_grid() || c.capacity_lower_bound())
}

/// Max batch by infrastructure and protocol, one panel per wait.
pub fn max_batch_comparison(a: &Analysis, path: &Path) -> Result<(), ReportError> {
    let modes = a.modes();
    let series: Vec<(String, RGBColor)> = modes
        .iter()
        .enumerate()
        .map(|(i, m)| (mode_name(m), mode_color(m, i)))
        .collect();
    let mut notes = Vec::new();
    let panels: Vec<BarPanel> = bounded(a.waits(), MAX_BAR_PANELS, "waits", &mut notes)
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
                .collect::<Vec<_>>(),
        })
        .collect();
    let panels = bound_groups(panels, &mut notes);
    hbar_figure(
        path,
        "Maximum batch size by infrastructure and protocol",
        &format!(
            "largest N whose mean success rate over repetitions is ≥ {:.0}%{}",
            a.threshold * 100.0,
            shown_note(&notes)
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
    let mut notes = Vec::new();
    let panels: Vec<BarPanel> = bounded(a.waits(), MAX_BAR_PANELS, "waits", &mut notes)
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
                .collect::<Vec<_>>(),
        })
        .collect();
    let panels = bound_groups(panels, &mut notes);
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
    let subtitle = subtitle + &shown_note(&notes);
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

/// At most this many heatmap columns (batch sizes) and rows (curves): about 3,000 × 2,000 px.
pub const MAX_HEATMAP_COLUMNS: usize = 32;
pub const MAX_HEATMAP_ROWS: usize = 40;
/// Row labels wider than this are cut at the figure's left edge rather than widen it.
const MAX_LABEL_WIDTH: i32 = 700;

/// Total p99 latency over (infrastructure · mode · wait) × batch size, log color scale.
pub fn latency_heatmap(a: &Analysis, path: &Path) -> Result<(), ReportError> {
    // A cell per (curve, N) would make a 20,000-N sweep two million pixels wide: past a bound,
    // evenly spaced columns (rows) are drawn and the figure says how many of how many.
    let all_sizes = a.batch_sizes();
    let all_rows: Vec<&Curve> = a.curves().collect();
    let sizes: Vec<u64> = sample_evenly(all_sizes.len(), MAX_HEATMAP_COLUMNS)
        .into_iter()
        .map(|i| all_sizes[i])
        .collect();
    let rows: Vec<&Curve> = sample_evenly(all_rows.len(), MAX_HEATMAP_ROWS)
        .into_iter()
        .map(|i| all_rows[i])
        .collect();
    let mut sampled = Vec::new();
    if sizes.len() < all_sizes.len() {
        sampled.push(format!(
            "{} of {} batch sizes",
            sizes.len(),
            all_sizes.len()
        ));
    }
    if rows.len() < all_rows.len() {
        sampled.push(format!("{} of {} rows", rows.len(), all_rows.len()));
    }
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
        .unwrap_or(0)
        .min(MAX_LABEL_WIDTH);
    let x0 = 30 + label_w + 14;
    let grid_w = CELL_W * sizes.len().max(1) as i32;
    let width = (x0 + grid_w + 170).max(900);
    let note_h = if sampled.is_empty() { 0 } else { 30 };
    let height = TOP + CELL_H * rows.len().max(1) as i32 + 90 + note_h;
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
    if !sampled.is_empty() {
        draw_text(
            &root,
            &format!(
                "showing {}, evenly spaced (first and last kept); every cell is in analysis.json",
                sampled.join(" and ")
            ),
            (x0 + grid_w / 2, grid_bottom + 70),
            &text_style(17.0, MUTED, HPos::Center, VPos::Top),
        )?;
    }
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
    let mut notes = Vec::new();
    let curves = bounded(
        a.curves().collect::<Vec<&Curve>>(),
        MAX_CURVE_PANELS,
        "curves",
        &mut notes,
    );
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
        Some(&format!(
            "connect + reset + step, successful sessions, mean over repetitions · dashed: the step's wait · hollow: below threshold{}",
            shown_note(&notes)
        )),
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

/// Writes every figure into `dir` (created if needed) and returns their paths: all of them, or
/// on an error none (the previous figures stay).
pub fn write_figures(a: &Analysis, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let mut staging = Staging::new();
    let out = render_figures(a, dir, &mut staging)?;
    staging.commit()?;
    Ok(out)
}

/// Draws every figure into a temporary file of `staging` (put in place by its commit) and
/// returns the paths they will have in `dir`.
pub fn render_figures(
    a: &Analysis,
    dir: &Path,
    staging: &mut Staging,
) -> Result<Vec<PathBuf>, ReportError> {
    ensure_font()?;
    if a.curves().next().is_none() {
        return Err(ReportError::NoData);
    }
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
        let tmp = staging.path_for(&path)?;
        draw(a, &tmp).map_err(|e| match e {
            ReportError::Plot(msg) => ReportError::Plot(format!("{}: {msg}", path.display())),
            other => other,
        })?;
        staging.sync(&tmp)?;
        out.push(path);
    }
    Ok(out)
}
