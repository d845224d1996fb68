//! Line charts drawn on the server as SVG, so they need no script and obey
//! the CSP. Each series has its own marker shape and dash pattern, and
//! band edges carry their names, so nothing is told by colour alone; the
//! `<title>`, `<desc>` and the data table from [`Chart::table`] are the
//! text alternative.

use std::fmt::Write;

use jiff::civil::Date;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 112.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

/// Maps a domain interval onto a pixel interval, linearly.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Scale {
    pub fn map(&self, v: f64) -> f64 {
        if self.d1 == self.d0 {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

/// How a series' points are marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Square,
    Triangle,
}

pub struct Series {
    pub label: String,
    pub marker: Marker,
    /// Points further apart than this many days are not joined: a line
    /// across days without an entry would invent values.
    pub max_gap_days: i64,
    pub points: Vec<(Date, f64)>,
}

/// A named region of the y axis from `from` upwards (a questionnaire
/// band); its lower edge is drawn and labelled.
pub struct Band {
    pub from: f64,
    pub label: String,
}

pub struct Chart {
    pub id: String,
    pub title: String,
    pub y_label: String,
    pub from: Date,
    pub to: Date,
    pub y_min: f64,
    pub y_max: f64,
    pub y_ticks: Vec<f64>,
    pub series: Vec<Series>,
    pub bands: Vec<Band>,
}

/// Escapes text for SVG content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn days_between(a: Date, b: Date) -> i64 {
    a.until(b).map(|s| i64::from(s.get_days())).unwrap_or(0)
}

/// An SVG path through the points, starting a new piece after a gap.
/// Points must be in date order; `(day, x, y)`.
pub fn path(points: &[(i64, f64, f64)], max_gap_days: i64) -> String {
    let mut d = String::new();
    let mut last_day: Option<i64> = None;
    for (day, x, y) in points {
        let joined = last_day.is_some_and(|l| day - l <= max_gap_days);
        let _ = write!(d, "{}{x:.1} {y:.1}", if joined { " L" } else { " M" });
        last_day = Some(*day);
    }
    d.trim_start().to_owned()
}

fn marker(kind: Marker, x: f64, y: f64, class: &str, label: &str) -> String {
    let title = format!("<title>{}</title>", esc(label));
    match kind {
        Marker::Circle => {
            format!(r#"<circle class="{class}" cx="{x:.1}" cy="{y:.1}" r="4">{title}</circle>"#)
        }
        Marker::Square => format!(
            r#"<rect class="{class}" x="{:.1}" y="{:.1}" width="8" height="8">{title}</rect>"#,
            x - 4.0,
            y - 4.0
        ),
        Marker::Triangle => format!(
            r#"<path class="{class}" d="M{x:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z">{title}</path>"#,
            y - 5.0,
            x + 5.0,
            y + 4.0,
            x - 5.0,
            y + 4.0
        ),
    }
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

impl Chart {
    pub fn x_scale(&self) -> Scale {
        Scale {
            d0: 0.0,
            d1: days_between(self.from, self.to) as f64,
            r0: LEFT,
            r1: WIDTH - RIGHT,
        }
    }

    pub fn y_scale(&self) -> Scale {
        Scale {
            d0: self.y_min,
            d1: self.y_max,
            r0: HEIGHT - BOTTOM,
            r1: TOP,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.points.is_empty())
    }

    /// One sentence saying what the chart shows, for `<desc>`.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return format!(
                "{} from {} to {}: no data recorded yet.",
                self.title, self.from, self.to
            );
        }
        let parts: Vec<String> = self
            .series
            .iter()
            .map(|s| {
                let values: Vec<f64> = s.points.iter().map(|p| p.1).collect();
                match (values.first(), values.last()) {
                    (Some(_), Some(last)) => {
                        let min = values.iter().cloned().fold(f64::INFINITY, f64::min);
                        let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                        format!(
                            "{}: {} values, lowest {}, highest {}, latest {}",
                            s.label,
                            values.len(),
                            format_value(min),
                            format_value(max),
                            format_value(*last)
                        )
                    }
                    _ => format!("{}: no values", s.label),
                }
            })
            .collect();
        format!(
            "{} from {} to {}. {}.",
            self.title,
            self.from,
            self.to,
            parts.join("; ")
        )
    }

    /// The data as rows of a table: each date with a value per series.
    pub fn table(&self) -> Vec<(String, Vec<String>)> {
        let mut dates: Vec<Date> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .collect();
        dates.sort();
        dates.dedup();
        dates
            .into_iter()
            .map(|d| {
                let values = self
                    .series
                    .iter()
                    .map(|s| {
                        s.points
                            .iter()
                            .find(|p| p.0 == d)
                            .map(|p| format_value(p.1))
                            .unwrap_or_else(|| "—".into())
                    })
                    .collect();
                (d.to_string(), values)
            })
            .collect()
    }

    pub fn labels(&self) -> Vec<String> {
        self.series.iter().map(|s| s.label.clone()).collect()
    }

    /// The whole `<svg>` element. Every piece of text in it is escaped.
    pub fn svg(&self) -> String {
        let (xs, ys) = (self.x_scale(), self.y_scale());
        let id = esc(&self.id);
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-t {id}-d" xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
            esc(&self.title),
            esc(&self.summary())
        );
        // Axes and ticks.
        let (x0, x1) = (LEFT, WIDTH - RIGHT);
        let (y0, y1) = (HEIGHT - BOTTOM, TOP);
        let _ = write!(
            out,
            r#"<g class="axis"><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}"/>"#
        );
        for t in &self.y_ticks {
            let y = ys.map(*t);
            let _ = write!(
                out,
                r#"<line class="grid" x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                x0 - 6.0,
                y + 4.0,
                format_value(*t)
            );
        }
        let _ = write!(
            out,
            r#"<text x="{x0}" y="{:.1}" text-anchor="start">{}</text><text x="{x1}" y="{:.1}" text-anchor="end">{}</text>"#,
            HEIGHT - 12.0,
            self.from,
            HEIGHT - 12.0,
            self.to
        );
        let _ = write!(
            out,
            r#"<text x="{x0}" y="{:.1}" text-anchor="start" class="y-label">{}</text></g>"#,
            TOP - 4.0,
            esc(&self.y_label)
        );
        // Band edges, each named at its right end.
        for band in &self.bands {
            let y = ys.map(band.from);
            let _ = write!(
                out,
                r#"<g class="band"><line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}"/><text x="{:.1}" y="{:.1}">{} {}</text></g>"#,
                x1 + 4.0,
                y + 4.0,
                format_value(band.from),
                esc(&band.label)
            );
        }
        if self.is_empty() {
            let _ = write!(
                out,
                r#"<text class="empty" x="{:.1}" y="{:.1}" text-anchor="middle">No data yet</text>"#,
                (x0 + x1) / 2.0,
                (y0 + y1) / 2.0
            );
        }
        for (n, s) in self.series.iter().enumerate() {
            let class = format!("series s{n}");
            let mut pts: Vec<(i64, f64, f64)> = s
                .points
                .iter()
                .map(|(d, v)| {
                    let day = days_between(self.from, *d);
                    (day, xs.map(day as f64), ys.map(*v))
                })
                .collect();
            pts.sort_by_key(|p| p.0);
            let _ = write!(out, r#"<g class="{class}">"#);
            if pts.len() > 1 {
                let _ = write!(
                    out,
                    r#"<path class="line" d="{}"/>"#,
                    path(&pts, s.max_gap_days)
                );
            }
            for ((d, v), (_, x, y)) in s.points.iter().zip(pts.iter()) {
                let label = format!("{} on {d}: {}", s.label, format_value(*v));
                out.push_str(&marker(s.marker, *x, *y, "point", &label));
            }
            // The legend: the same marker and line as the series.
            let ly = TOP + 14.0 + 18.0 * n as f64;
            let lx = WIDTH - RIGHT + 8.0;
            let _ = write!(
                out,
                r#"<g class="legend"><path class="line" d="M{lx:.1} {ly:.1} L{:.1} {ly:.1}"/>{}<text x="{:.1}" y="{:.1}">{}</text></g>"#,
                lx + 22.0,
                marker(s.marker, lx + 11.0, ly, "point", &s.label),
                lx + 26.0,
                ly + 4.0,
                esc(&s.label)
            );
            out.push_str("</g>");
        }
        out.push_str("</svg>");
        out
    }
}

/// What a page needs to show one chart: the SVG and its data table.
pub struct ChartView {
    pub title: String,
    pub svg: String,
    pub labels: Vec<String>,
    pub rows: Vec<(String, Vec<String>)>,
}

impl From<&Chart> for ChartView {
    fn from(chart: &Chart) -> ChartView {
        ChartView {
            title: chart.title.clone(),
            svg: chart.svg(),
            labels: chart.labels(),
            rows: chart.table(),
        }
    }
}

/// Lower edges of the PHQ-9 bands (SPEC §8).
pub fn phq9_bands() -> Vec<Band> {
    [
        (5.0, "mild"),
        (10.0, "moderate"),
        (15.0, "mod. severe"),
        (20.0, "severe"),
    ]
    .into_iter()
    .map(|(from, label)| Band {
        from,
        label: label.into(),
    })
    .collect()
}

/// Lower edges of the GAD-7 bands (SPEC §8).
pub fn gad7_bands() -> Vec<Band> {
    [(5.0, "mild"), (10.0, "moderate"), (15.0, "severe")]
        .into_iter()
        .map(|(from, label)| Band {
            from,
            label: label.into(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn chart(points: Vec<(Date, f64)>) -> Chart {
        Chart {
            id: "c".into(),
            title: "Mood".into(),
            y_label: "1–10".into(),
            from: d("2026-01-01"),
            to: d("2026-01-11"),
            y_min: 0.0,
            y_max: 10.0,
            y_ticks: vec![0.0, 5.0, 10.0],
            series: vec![Series {
                label: "Mood".into(),
                marker: Marker::Circle,
                max_gap_days: 1,
                points,
            }],
            bands: vec![],
        }
    }

    #[test]
    fn scales_map_ends_and_middle() {
        let s = Scale {
            d0: 0.0,
            d1: 10.0,
            r0: 100.0,
            r1: 0.0,
        };
        assert_eq!(s.map(0.0), 100.0);
        assert_eq!(s.map(10.0), 0.0);
        assert_eq!(s.map(5.0), 50.0);
        let flat = Scale {
            d0: 3.0,
            d1: 3.0,
            r0: 0.0,
            r1: 10.0,
        };
        assert_eq!(flat.map(3.0), 5.0);
    }

    #[test]
    fn chart_scales_put_dates_and_values_inside_the_plot() {
        let c = chart(vec![]);
        assert_eq!(c.x_scale().map(0.0), LEFT);
        assert_eq!(c.x_scale().map(10.0), WIDTH - RIGHT);
        assert_eq!(c.y_scale().map(0.0), HEIGHT - BOTTOM);
        assert_eq!(c.y_scale().map(10.0), TOP);
    }

    #[test]
    fn paths_break_at_gaps() {
        let pts = [(0, 1.0, 2.0), (1, 3.0, 4.0), (5, 5.0, 6.0)];
        assert_eq!(path(&pts, 1), "M1.0 2.0 L3.0 4.0 M5.0 6.0");
        assert_eq!(path(&pts, 30), "M1.0 2.0 L3.0 4.0 L5.0 6.0");
        assert_eq!(path(&[], 1), "");
    }

    #[test]
    fn band_edges_are_drawn_and_named() {
        let mut c = chart(vec![(d("2026-01-02"), 12.0)]);
        c.y_max = 27.0;
        c.bands = phq9_bands();
        let svg = c.svg();
        assert_eq!(svg.matches(r#"<g class="band">"#).count(), 4);
        assert!(svg.contains("20 severe"));
        assert!(svg.contains("10 moderate"));
        let y = c.y_scale().map(10.0);
        assert!(svg.contains(&format!(r#"y1="{y:.1}""#)));
    }

    #[test]
    fn empty_data_says_so() {
        let c = chart(vec![]);
        assert!(c.is_empty());
        let svg = c.svg();
        assert!(svg.contains("No data yet"));
        assert!(!svg.contains(r#"class="line" d="M"#.replace("M", "M1").as_str()));
        assert!(c.summary().contains("no data recorded yet"));
        assert!(c.table().is_empty());
    }

    #[test]
    fn points_have_markers_titles_and_a_table() {
        let c = chart(vec![(d("2026-01-02"), 6.0), (d("2026-01-03"), 7.5)]);
        let svg = c.svg();
        assert!(svg.contains("<title>Mood on 2026-01-03: 7.5</title>"));
        assert!(svg.contains("<desc id=\"c-d\">"));
        assert!(
            c.summary()
                .contains("2 values, lowest 6, highest 7.5, latest 7.5")
        );
        assert_eq!(
            c.table(),
            vec![
                ("2026-01-02".to_owned(), vec!["6".to_owned()]),
                ("2026-01-03".to_owned(), vec!["7.5".to_owned()])
            ]
        );
        assert!(!svg.contains("style="));
    }

    #[test]
    fn text_is_escaped() {
        let mut c = chart(vec![]);
        c.title = "<script>x</script>".into();
        let svg = c.svg();
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert_eq!(esc(r#"a&"'"#), "a&amp;&quot;&#39;");
    }
}
