//! Bank of Russia `XML_daily.asp`, windows-1251.

use super::{Req, Shared, respond};
use axum::response::Response;
use chrono::NaiveDate;
use rust_decimal::Decimal;

pub(crate) fn handle(sh: &Shared, req: &Req) -> Response {
    if req.path.trim_end_matches('/') != "/scripts/XML_daily.asp" {
        return respond(
            404,
            "text/html; charset=windows-1251",
            "<html><body>404</body></html>",
        );
    }
    let school = &sh.school;
    let asked = req
        .q("date_req")
        .and_then(|d| NaiveDate::parse_from_str(d.trim(), "%d/%m/%Y").ok());
    let set = match asked {
        Some(d) => school.rates_on(d),
        None => school.rates.last().expect("rates are generated"),
    };
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"windows-1251\"?><ValCurs Date=\"{}\" name=\"Foreign Currency Market\">",
        set.date.format("%d.%m.%Y")
    );
    for r in &set.rates {
        let value = format!("{:.4}", r.value.round_dp(4)).replace('.', ",");
        let unit = (r.value / Decimal::from(r.nominal))
            .round_dp(6)
            .normalize()
            .to_string()
            .replace('.', ",");
        xml.push_str(&format!(
            "<Valute ID=\"{}\"><NumCode>{}</NumCode><CharCode>{}</CharCode><Nominal>{}</Nominal><Name>{}</Name><Value>{value}</Value><VunitRate>{unit}</VunitRate></Valute>",
            r.id, r.num_code, r.char_code, r.nominal, r.name
        ));
    }
    xml.push_str("</ValCurs>");
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&xml);
    respond(
        200,
        "application/xml; charset=windows-1251",
        bytes.into_owned(),
    )
}
