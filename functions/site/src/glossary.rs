//! The metrics the pages show: id (the anchor in `glossary.html`), Russian
//! label and formula, as in `docs/metrics.md` (sections 3-4).

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Metric {
    /// Anchor in `glossary.html`, e.g. `cpl`.
    pub id: &'static str,
    pub label: &'static str,
    pub formula: &'static str,
}

pub const SPEND: Metric = Metric {
    id: "spend",
    label: "Расход",
    formula: "Расход на рекламу в рублях по дате статистики: расход площадки × множитель аккаунта, пересчитанный по курсу ЦБ РФ",
};
pub const CLICKS: Metric = Metric {
    id: "clicks",
    label: "Клики",
    formula: "Клики, как их сообщает рекламная площадка",
};
pub const LEADS: Metric = Metric {
    id: "leads",
    label: "Лиды",
    formula: "Регистрации без дублей: одна на человека, форму (или вебинар) и день",
};
pub const CPL: Metric = Metric {
    id: "cpl",
    label: "CPL",
    formula: "Цена лида = Расход / Лиды",
};
pub const SALES: Metric = Metric {
    id: "sales",
    label: "Продажи",
    formula: "Заказы, оплаченные на дату отчёта больше чем на ноль; одна продажа на заказ, повторные заказы тоже считаются",
};
pub const REVENUE1: Metric = Metric {
    id: "revenue1",
    label: "Выручка (первые платежи)",
    formula: "Сумма первых платежей всех продаж",
};
pub const REVENUE2: Metric = Metric {
    id: "revenue2",
    label: "Выручка (с доплатами)",
    formula: "Все платежи по тем же заказам на дату отчёта: первые платежи + доплаты + возвраты (со знаком минус)",
};
pub const ROMI1: Metric = Metric {
    id: "romi1",
    label: "ROMI1",
    formula: "(Выручка (первые платежи) − Расход) / Расход × 100 %",
};
pub const ROMI2: Metric = Metric {
    id: "romi2",
    label: "ROMI2",
    formula: "(Выручка (с доплатами) − Расход) / Расход × 100 %",
};
pub const AVG_CHECK1: Metric = Metric {
    id: "avg_check1",
    label: "Средний чек",
    formula: "Выручка (первые платежи) / Продажи",
};
pub const LTV2: Metric = Metric {
    id: "ltv2",
    label: "LTV2",
    formula: "Выручка (с доплатами) / Клиенты (разные люди с продажей)",
};

/// Every metric with a glossary entry, in glossary order.
pub const ALL: [Metric; 11] = [
    SPEND, CLICKS, LEADS, CPL, SALES, REVENUE1, REVENUE2, ROMI1, ROMI2, AVG_CHECK1, LTV2,
];
