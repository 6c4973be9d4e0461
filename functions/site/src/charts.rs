//! ECharts options, built with `charming` and serialized as strict JSON
//! (`serde_json`, never `Chart::to_string`, which writes JS functions
//! unquoted). Floats appear only here, converted from rounded `Decimal`s.
//! Formatters (Russian number format, `млн ₽` axes) are attached by
//! `assets/app.js` according to the chart element's `data-unit`.

use charming::Chart;
use charming::component::{Axis, Grid, Legend, LegendType};
use charming::element::{AxisType, ItemStyle, LineStyle, Tooltip, Trigger};
use charming::series::{Bar, Line};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::format;
use crate::palette;
use crate::view::Totals;

/// A chart ready for the page: its element id, unit and options as JSON
/// that is safe inside `<script type="application/json">`.
#[derive(Debug, serde::Serialize)]
pub struct ChartView {
    pub id: String,
    /// `rub`: values are money (tooltip and axis formatting).
    pub unit: &'static str,
    pub json: String,
}

/// Money as a chart value: rounded to kopecks, then a float.
pub fn money_f64(d: Decimal) -> f64 {
    format::round(d, 2).to_f64().unwrap_or(0.0)
}

/// "Расход и выручка по дням": spend as bars, revenue as lines.
pub fn daily_spend_revenue(days: &[(NaiveDate, Totals)]) -> Chart {
    let dates: Vec<String> = days.iter().map(|(d, _)| format::date(*d)).collect();
    let spend: Vec<f64> = days.iter().map(|(_, t)| money_f64(t.spend)).collect();
    let rev1: Vec<f64> = days.iter().map(|(_, t)| money_f64(t.revenue1)).collect();
    let rev2: Vec<f64> = days.iter().map(|(_, t)| money_f64(t.revenue2)).collect();
    Chart::new()
        .color(vec![palette::SPEND, palette::REVENUE1, palette::REVENUE2])
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .legend(Legend::new().type_(LegendType::Scroll).top(0).left(0))
        .grid(
            Grid::new()
                .left(8)
                .right(16)
                .top(40)
                .bottom(8)
                .contain_label(true),
        )
        .x_axis(Axis::new().type_(AxisType::Category).data(dates))
        .y_axis(Axis::new().type_(AxisType::Value))
        .series(
            Bar::new()
                .name("Расход")
                .item_style(ItemStyle::new().color(palette::SPEND))
                .data(spend),
        )
        .series(
            Line::new()
                .name("Выручка (первые платежи)")
                .item_style(ItemStyle::new().color(palette::REVENUE1))
                .line_style(LineStyle::new().width(2))
                .data(rev1),
        )
        .series(
            Line::new()
                .name("Выручка (с доплатами)")
                .item_style(ItemStyle::new().color(palette::REVENUE2))
                .line_style(LineStyle::new().width(2))
                .data(rev2),
        )
}

/// Serializes options for embedding in `<script type="application/json">`:
/// `<`, `>` and `&` are written as JSON `\u` escapes so no text can close
/// the element.
pub fn to_embedded_json(chart: &Chart) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(chart)?;
    Ok(json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use charming::component::Title;

    #[test]
    fn embedded_json_cannot_close_its_script_element() {
        let chart = Chart::new().title(Title::new().text("</script><b>&"));
        let json = to_embedded_json(&chart).unwrap();
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["title"][0]["text"], "</script><b>&");
    }

    #[test]
    fn chart_money_is_rounded_to_kopecks() {
        assert_eq!(money_f64(Decimal::new(12345, 3)), 12.35);
        assert_eq!(money_f64(Decimal::new(-5, 3)), -0.01);
    }
}
