//! Every metric the pages show, in one table: id (the anchor in
//! `glossary.html`), Russian label, formula and basis, as in
//! `docs/metrics.md` (sections 3-6). Pages link every metric label to
//! `glossary.html#<id>`; `app.js` reads the same ids.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Metric {
    /// Anchor in `glossary.html`, e.g. `cpl`.
    pub id: &'static str,
    pub label: &'static str,
    pub formula: &'static str,
    /// What the metric is counted on: the date basis and view.
    pub basis: &'static str,
}

const STATS: &str = "по дате статистики рекламной площадки";
const LEAD_DATE: &str = "когорты: по дате лида";
const ATTRIBUTED: &str = "когорты: по дате лида, которому атрибуция отдаёт сделку/заказ";
const CASH: &str = "поступления: по дню движения денег";
const MANAGER_MONTH: &str = "менеджер × месяц, поступления";

macro_rules! metrics {
    ($($name:ident = $id:literal, $label:literal, $formula:literal, $basis:expr;)*) => {
        $(pub const $name: Metric = Metric { id: $id, label: $label, formula: $formula, basis: $basis };)*
        /// Every metric with a glossary entry, in glossary order.
        pub const ALL: &[Metric] = &[$($name),*];
    };
}

metrics! {
    SPEND = "spend", "Расход", "Расход на рекламу в рублях: расход площадки × множитель аккаунта, пересчитанный по курсу ЦБ РФ на дату; плюс ручные расходы", STATS;
    IMPRESSIONS = "impressions", "Показы", "Показы, как их сообщает рекламная площадка", STATS;
    CLICKS = "clicks", "Клики", "Клики (переходы на посадочную страницу), как их сообщает площадка", STATS;
    SESSIONS = "sessions", "Сессии", "Сессии GA4 по источнику, каналу и кампании (0, пока GA4 не подключён)", "по дате сессии";
    CTR = "ctr", "CTR", "Клики / Показы × 100 %", STATS;
    CPM = "cpm", "Цена 1000 показов", "Расход / Показы × 1000", STATS;
    CPC = "cpc", "Цена клика", "Расход / Клики", STATS;
    LEADS = "leads", "Лиды", "Регистрации без дублей: одна на человека, форму (или вебинар) и день; повторная доставка вебхука — одна запись", LEAD_DATE;
    CPL = "cpl", "Цена лида", "Цена лида = Расход / Лиды", LEAD_DATE;
    ATTENDEES = "attendees", "Дошли до вебинара", "Лиды, чей человек смотрел вебинар в течение окна доходимости (по умолчанию 14 дней) после даты лида", LEAD_DATE;
    ATTENDANCE = "attendance", "Доходимость", "Дошли до вебинара / Лиды × 100 %", LEAD_DATE;
    STAYED = "stayed_to_offer", "Досмотрели до продажи", "Дошедшие до вебинара, чей просмотр достиг минуты продающего предложения", LEAD_DATE;
    APPLICATIONS = "applications", "Заявки", "Сделки amoCRM (не удалённые, созданные к дате отчёта), по атрибуции", ATTRIBUTED;
    CPO = "cpo", "Цена заявки", "Цена заявки = Расход / Заявки", ATTRIBUTED;
    SALES = "sales", "Продажи", "Заказы, оплаченные на дату отчёта больше чем на ноль (полученные платежи минус возвраты); одна продажа на заказ, повторные заказы тоже считаются", ATTRIBUTED;
    CUSTOMERS = "customers", "Клиенты", "Разные люди с продажей в строке или периоде (сумма по строкам может считать человека дважды)", ATTRIBUTED;
    CR = "cr", "Конверсия", "CR(x→y) = этап y / этап x × 100 %, например Продажи / Заявки", "по базе этапов";
    CAC = "cac", "Стоимость клиента", "Стоимость клиента = Расход / Клиенты", ATTRIBUTED;
    REVENUE1 = "revenue1", "Выручка (первые платежи)", "Сумма первых платежей всех продаж", ATTRIBUTED;
    REVENUE2 = "revenue2", "Выручка (с доплатами)", "Все платежи по тем же заказам на дату отчёта: первые платежи + доплаты + возвраты (со знаком минус)", ATTRIBUTED;
    CASH_REVENUE = "cash_revenue", "Выручка (поступления)", "Платежи, датированные днём периода, за вычетом возвратов, включая платежи без заказа", CASH;
    PREPAYMENTS = "prepayments", "Предоплаты", "Положительные платежи, после которых заказ ещё не оплачен полностью", CASH;
    SURCHARGES = "surcharges", "Доплаты", "Положительные платежи по заказу после его первого платежа", CASH;
    REFUNDS = "refunds", "Возвраты", "Возвраты денег (отрицательное число) в день возврата", CASH;
    AVG_CHECK1 = "avg_check1", "Средний чек", "Выручка (первые платежи) / Продажи", ATTRIBUTED;
    AVG_CHECK2 = "avg_check2", "Средний чек после доплат", "Выручка (с доплатами) / Продажи", ATTRIBUTED;
    LTV1 = "ltv1", "LTV1", "Выручка (первые платежи) / Клиенты", ATTRIBUTED;
    LTV2 = "ltv2", "LTV2", "Выручка (с доплатами) / Клиенты; в когортах — накопленная к возрасту выручка когорты / её клиенты", ATTRIBUTED;
    ROMI1 = "romi1", "ROMI1", "(Выручка (первые платежи) − Расход) / Расход × 100 %", ATTRIBUTED;
    ROMI2 = "romi2", "ROMI2", "(Выручка (с доплатами) − Расход) / Расход × 100 %", ATTRIBUTED;
    MARGIN = "margin", "Маржа", "Выручка (с доплатами) − Расход − переменные затраты (проценты от выручки из настроек: комиссия оплаты, бонус продаж)", ATTRIBUTED;
    COHORT = "cohort", "Когорта", "Люди, чей первый лид пришёлся на календарный месяц (или ISO-неделю); возраст 0 — месяц самой когорты", "по дате первого лида";
    FORECAST_COHORT = "cohort_forecast", "Прогноз когорты", "Цепная лестница: выручка следующего возраста = выручка × средний рост зрелых когорт между соседними возрастами, до возраста 6; прогнозные клетки не смешиваются с фактом", "когорты";
    MANAGER_LEADS = "manager_leads", "Сделки менеджера", "Сделки, назначенные менеджеру, по месяцу создания сделки", "по дате создания сделки";
    MANAGER_REVENUE = "manager_revenue", "Выручка менеджера", "Все платежи по заказам менеджера, датированные месяцем (за вычетом возвратов)", MANAGER_MONTH;
    CONVERSION = "conversion", "Конверсия в продажу", "Продажи / Сделки менеджера × 100 %", MANAGER_MONTH;
    ALLOCATED_SPEND = "allocated_spend", "Расход на сделки", "Сумма цен лидов (CPL канала и дня лида), стоящих за сделками менеджера", MANAGER_MONTH;
    PLAN = "plan", "План", "План выручки менеджера на месяц из настроек (несколько записей складываются)", MANAGER_MONTH;
    PLAN_PERCENT = "plan_percent", "Выполнение плана", "Выручка менеджера / План × 100 %", MANAGER_MONTH;
    REMAINING = "remaining", "Остаток до плана", "max(План − Выручка менеджера, 0)", MANAGER_MONTH;
    RUN_RATE = "run_rate", "Прогноз на конец месяца", "Текущий месяц: выручка × дней в месяце / прошедшие дни (с 1-го по дату отчёта); прошедший месяц — факт", MANAGER_MONTH;
    PIPELINE_REACHED = "pipeline_reached", "Дошли до статуса", "Сделки, которые сейчас в статусе или прошли его (выигранная прошла все открытые статусы до неё)", "текущее состояние CRM";
}

/// `id` is a glossary anchor.
pub fn find(id: &str) -> Option<&'static Metric> {
    ALL.iter().find(|m| m.id == id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_anchors() {
        let mut ids: Vec<&str> = super::ALL.iter().map(|m| m.id).collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert!(ids.iter().all(|i| {
            i.bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
        }));
    }
}
