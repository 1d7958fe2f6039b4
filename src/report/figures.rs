//! The report's figures as self-contained SVG documents: ROC curves, a forest plot of per-source
//! estimates, training curves (plotters), and confusion matrices, composition heat maps and image grids
//! (drawn as plain SVG: they are tables with colour).

use plotters::prelude::*;

/// A chart's colour by series index.
fn colour(k: usize) -> RGBColor {
    COLOURS[k % COLOURS.len()]
}

/// One curve: its legend and its points.
pub struct Curve {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// An SVG chart of ROC curves with the chance diagonal; `None` if drawing fails.
pub fn roc_svg(title: &str, curves: &[Curve]) -> Option<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (420, 380)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .ok()?;
        chart
            .configure_mesh()
            .x_desc("false-positive rate")
            .y_desc("true-positive rate")
            .x_labels(6)
            .y_labels(6)
            .draw()
            .ok()?;
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))
            .ok()?;
        for (k, c) in curves.iter().enumerate() {
            let colour = colour(k);
            chart
                .draw_series(LineSeries::new(
                    c.points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .ok()?
                .label(c.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .ok()?;
        root.present().ok()?;
    }
    Some(svg)
}

/// One row of a forest plot: a label and an estimate with its interval.
pub struct ForestRow {
    pub label: String,
    pub value: f64,
    pub interval: Option<(f64, f64)>,
    /// Rows of one group share a colour (a partition).
    pub group: usize,
}

/// A forest plot on 0..1: a dot per row with its interval as a bar, and the line of chance at 0.5.
pub fn forest_svg(title: &str, x_label: &str, rows: &[ForestRow]) -> Option<String> {
    let n = rows.len();
    let label_width = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0) as u32;
    let mut svg = String::new();
    {
        let height = 80 + 22 * n as u32;
        let root =
            SVGBackend::with_string(&mut svg, (560 + 7 * label_width, height)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(7 * label_width + 10)
            .build_cartesian_2d(0f64..1f64, -0.5f64..(n as f64 - 0.5))
            .ok()?;
        let label_of = |y: &f64| {
            let k = y.round();
            if (y - k).abs() > 1e-6 || k < 0.0 {
                return String::new();
            }
            // Row 0 is drawn at the top.
            rows.get(n.saturating_sub(1 + k as usize))
                .map(|r| r.label.clone())
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_desc(x_label)
            .x_labels(6)
            .y_labels(n + 1)
            .y_label_formatter(&label_of)
            .disable_y_mesh()
            .light_line_style(WHITE)
            .draw()
            .ok()?;
        chart
            .draw_series(LineSeries::new(
                [(0.5, -0.5), (0.5, n as f64 - 0.5)],
                BLACK.mix(0.4),
            ))
            .ok()?;
        for (i, r) in rows.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let c = colour(r.group);
            if let Some((lo, hi)) = r.interval {
                chart
                    .draw_series(LineSeries::new([(lo, y), (hi, y)], c.stroke_width(2)))
                    .ok()?;
            }
            chart
                .draw_series([Circle::new((r.value, y), 4, c.filled())])
                .ok()?;
        }
        root.present().ok()?;
    }
    Some(svg)
}

/// The training history of one model: loss and validation AUC per epoch, and the epoch kept.
pub struct History {
    pub label: String,
    pub loss: Vec<(f64, f64)>,
    pub validation_auc: Vec<(f64, f64)>,
    pub selected: Option<f64>,
}

/// Training curves: loss (left) and validation AUC (right) per epoch, a line per model, a ring at the
/// epoch each model kept.
pub fn training_svg(title: &str, histories: &[History]) -> Option<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 320)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let root = root.titled(title, ("sans-serif", 15)).ok()?;
        let panels = root.split_evenly((1, 2));
        let epochs = histories
            .iter()
            .flat_map(|h| h.loss.iter().map(|p| p.0))
            .fold(1f64, f64::max);
        let max_loss = histories
            .iter()
            .flat_map(|h| h.loss.iter().map(|p| p.1))
            .filter(|v| v.is_finite())
            .fold(0f64, f64::max)
            .max(1e-3)
            * 1.05;
        for (panel, (name, top)) in panels
            .iter()
            .zip([("loss", max_loss), ("validation AUC", 1.0)])
        {
            let mut chart = ChartBuilder::on(panel)
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(45)
                .build_cartesian_2d(1f64..epochs.max(2.0), 0f64..top)
                .ok()?;
            chart
                .configure_mesh()
                .light_line_style(WHITE)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .x_desc("epoch")
                .y_desc(name)
                .x_labels(6)
                .y_labels(6)
                .draw()
                .ok()?;
            for (k, h) in histories.iter().enumerate() {
                let points = if name == "loss" {
                    &h.loss
                } else {
                    &h.validation_auc
                };
                if points.is_empty() {
                    continue;
                }
                let c = colour(k);
                chart
                    .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
                    .ok()?
                    .label(h.label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2))
                    });
                if let Some(at) = points.iter().find(|p| Some(p.0) == h.selected) {
                    chart
                        .draw_series([Circle::new(*at, 5, c.stroke_width(2))])
                        .ok()?;
                }
            }
            if name == "loss" {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.3))
                    .draw()
                    .ok()?;
            }
        }
        root.present().ok()?;
    }
    Some(svg)
}

/// A plain SVG document being written: cells of colour with text.
struct Sheet {
    body: String,
}

impl Sheet {
    fn new() -> Self {
        Sheet {
            body: String::new(),
        }
    }

    fn text(&mut self, x: f64, y: f64, anchor: &str, size: u32, s: &str) {
        self.body.push_str(&format!(
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"{anchor}\" font-family=\"sans-serif\" font-size=\"{size}\">{}</text>",
            escape(s)
        ));
    }

    /// A cell shaded by `share` (0..1) of one hue, its text dark or light to stay readable.
    fn cell(&mut self, x: f64, y: f64, w: f64, h: f64, share: f64, s: &str) {
        let share = share.clamp(0.0, 1.0);
        let shade = |full: f64| (255.0 - (255.0 - full) * share).round() as u8;
        self.body.push_str(&format!(
            "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"rgb({},{},{})\" stroke=\"#999\"/>",
            shade(31.0),
            shade(119.0),
            shade(180.0)
        ));
        let fill = if share > 0.55 { "white" } else { "black" };
        self.body.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"13\" fill=\"{fill}\">{}</text>",
            x + w / 2.0,
            y + h / 2.0 + 4.0,
            escape(s)
        ));
    }

    fn finish(self, width: f64, height: f64) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\"><rect width=\"100%\" height=\"100%\" fill=\"white\"/>{}</svg>",
            self.body
        )
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A count table as a heat map: each cell shaded by its share of its row, with the count written in it.
pub fn heatmap_svg(
    title: &str,
    corner: &str,
    rows: &[String],
    columns: &[String],
    counts: &[Vec<u64>],
) -> String {
    let (cw, ch) = (
        (columns.iter().map(|c| c.chars().count()).max().unwrap_or(4) as f64 * 8.0).max(64.0),
        30.0,
    );
    let left = (rows
        .iter()
        .map(|r| r.chars().count())
        .max()
        .unwrap_or(4)
        .max(corner.chars().count()) as f64)
        * 8.0
        + 16.0;
    let top = 56.0;
    let mut sheet = Sheet::new();
    sheet.text(8.0, 20.0, "start", 15, title);
    sheet.text(left - 8.0, top - 10.0, "end", 12, corner);
    for (j, c) in columns.iter().enumerate() {
        sheet.text(left + cw * (j as f64 + 0.5), top - 10.0, "middle", 12, c);
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + ch * i as f64;
        sheet.text(left - 8.0, y + ch / 2.0 + 4.0, "end", 12, r);
        let row = counts.get(i).cloned().unwrap_or_default();
        let total: u64 = row.iter().sum();
        for (j, n) in row.iter().enumerate() {
            let share = if total == 0 {
                0.0
            } else {
                *n as f64 / total as f64
            };
            sheet.cell(left + cw * j as f64, y, cw, ch, share, &n.to_string());
        }
    }
    sheet.finish(
        left + cw * columns.len() as f64 + 16.0,
        top + ch * rows.len() as f64 + 12.0,
    )
}

/// Confusion matrices side by side, one per panel (`title`, then true × predicted counts for the
/// positive class first), shaded by each true class's share.
pub fn confusion_svg(positive: &str, panels: &[(String, [[u64; 2]; 2])]) -> String {
    let negative = format!("not {positive}");
    let names = [positive.to_string(), negative];
    let (cw, ch) = (
        (names.iter().map(|n| n.chars().count()).max().unwrap_or(4) as f64 * 8.0).max(72.0),
        34.0,
    );
    let left = names[1].chars().count() as f64 * 8.0 + 60.0;
    let panel_width = left + 2.0 * cw + 24.0;
    let mut sheet = Sheet::new();
    for (k, (title, m)) in panels.iter().enumerate() {
        let x0 = panel_width * k as f64;
        sheet.text(x0 + 8.0, 20.0, "start", 14, title);
        sheet.text(x0 + left + cw, 42.0, "middle", 12, "predicted");
        for (j, n) in names.iter().enumerate() {
            sheet.text(x0 + left + cw * (j as f64 + 0.5), 60.0, "middle", 12, n);
        }
        for (i, n) in names.iter().enumerate() {
            let y = 68.0 + ch * i as f64;
            sheet.text(
                x0 + left - 8.0,
                y + ch / 2.0 + 4.0,
                "end",
                12,
                &format!("true {n}"),
            );
            let total = m[i][0] + m[i][1];
            for (j, count) in m[i].iter().enumerate() {
                let share = if total == 0 {
                    0.0
                } else {
                    *count as f64 / total as f64
                };
                sheet.cell(
                    x0 + left + cw * j as f64,
                    y,
                    cw,
                    ch,
                    share,
                    &count.to_string(),
                );
            }
        }
    }
    sheet.finish(panel_width * panels.len() as f64, 68.0 + 2.0 * ch + 12.0)
}

/// A grid of small images (PNG, base64) with a caption under each, `per_row` to a row.
pub fn image_grid_svg(
    title: &str,
    images: &[(String, String)],
    size: u32,
    per_row: usize,
) -> String {
    let (cell_w, cell_h) = (size as f64 + 24.0, size as f64 + 34.0);
    let mut sheet = Sheet::new();
    sheet.text(8.0, 20.0, "start", 15, title);
    for (k, (png, caption)) in images.iter().enumerate() {
        let (x, y) = (
            8.0 + cell_w * (k % per_row) as f64,
            32.0 + cell_h * (k / per_row) as f64,
        );
        sheet.body.push_str(&format!(
            "<image x=\"{x}\" y=\"{y}\" width=\"{size}\" height=\"{size}\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64,{png}\"/>"
        ));
        sheet.text(
            x + size as f64 / 2.0,
            y + size as f64 + 16.0,
            "middle",
            11,
            caption,
        );
    }
    let rows = images.len().div_ceil(per_row.max(1));
    sheet.finish(
        16.0 + cell_w * per_row.min(images.len()).max(1) as f64,
        40.0 + cell_h * rows as f64,
    )
}
