//! Tilda webhook deliveries, as Tilda would POST them.

use crate::model::School;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// One webhook POST (`application/x-www-form-urlencoded`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TildaDelivery {
    pub received_at: DateTime<Utc>,
    /// The form-urlencoded body exactly as Tilda sends it.
    pub body: String,
}

/// Every delivery in receipt order: first the `test=test` Tilda sends when
/// the webhook is set up (10 minutes before the first submission), then one
/// per submission, plus a second identical delivery (same `tranid`) one
/// minute later for re-delivered submissions.
pub fn tilda_deliveries(school: &School) -> Vec<TildaDelivery> {
    let mut out = Vec::with_capacity(school.registrations.len() + 64);
    if let Some(first) = school.registrations.first() {
        out.push(TildaDelivery {
            received_at: first.received_at - Duration::minutes(10),
            body: "test=test".into(),
        });
    }
    for r in &school.registrations {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.append_pair("Name", &r.name);
        if let Some(e) = &r.email {
            ser.append_pair("Email", e);
        }
        if let Some(p) = &r.phone {
            ser.append_pair("Phone", p);
        }
        for (k, v) in [
            ("utm_source", &r.utm_source),
            ("utm_medium", &r.utm_medium),
            ("utm_campaign", &r.utm_campaign),
            ("utm_content", &r.utm_content),
            ("utm_term", &r.utm_term),
        ] {
            if let Some(v) = v {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("tranid", &r.tranid);
        ser.append_pair("formid", &r.form_id);
        ser.append_pair("formname", &r.form_name);
        if let Some(c) = &r.cookies {
            ser.append_pair("COOKIES", c);
        }
        let body = ser.finish();
        if r.redelivered {
            out.push(TildaDelivery {
                received_at: r.received_at + Duration::seconds(60),
                body: body.clone(),
            });
        }
        out.push(TildaDelivery {
            received_at: r.received_at,
            body,
        });
    }
    out.sort_by_key(|d| d.received_at); // stable: ties keep generation order
    out
}
