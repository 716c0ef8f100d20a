//! The chart: throughput by concurrency, one line per pool and steady scenario, as SVG.

use std::path::Path;

use plotters::prelude::*;

use crate::Row;

/// Writes one panel per steady scenario: ops/s (y) by concurrency (x, log scale), a line per
/// pool; `tls` marks the captions of a run over TLS.
pub(crate) fn throughput_by_concurrency(
    rows: &[Row],
    path: &Path,
    tls: bool,
) -> Result<(), String> {
    let mut scenarios: Vec<&str> = rows
        .iter()
        .filter(|r| r.spike_ms.is_none())
        .map(|r| r.scenario.as_str())
        .collect();
    scenarios.dedup();
    if scenarios.is_empty() {
        scenarios.push("none");
    }
    let root = SVGBackend::new(path, (640 * scenarios.len() as u32, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((1, scenarios.len()));
    for (panel, scenario) in panels.iter().zip(&scenarios) {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.scenario == *scenario).collect();
        let max_c = mine.iter().map(|r| r.concurrency).max().unwrap_or(1).max(2) as f64;
        let max_y = mine.iter().map(|r| r.throughput).fold(1.0, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "{scenario}: ops/s by concurrency{}",
                    if tls { " (TLS)" } else { "" }
                ),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d((1.0..max_c * 1.2).log_scale(), 0.0..max_y)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("tasks")
            .y_desc("ops/s")
            .draw()
            .map_err(|e| e.to_string())?;
        let mut pools: Vec<&str> = mine.iter().map(|r| r.pool.as_str()).collect();
        pools.sort();
        pools.dedup();
        for (i, pool) in pools.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let mut points: Vec<(f64, f64)> = mine
                .iter()
                .filter(|r| r.pool == *pool)
                .map(|r| (r.concurrency as f64, r.throughput))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(*pool)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, color.filled())),
                )
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}
