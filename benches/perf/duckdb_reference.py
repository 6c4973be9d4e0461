#!/usr/bin/env python3
"""DuckDB reference for `voronka bench` (docs/performance.md).

Computes, with SQL over the same `normalized/**/*.jsonl` the aggregate step
reads, on one thread:

* `cash.csv` in full: money by the local day it moved (revenue,
  prepayments, surcharges, refunds — payments matched to orders by number,
  in time order, running paid amount against the order's cost) and ad spend
  by the statistics date (account currency × the account's
  `spend_multiplier`, converted at the Bank of Russia rate in force: the
  latest set on or before the date);
* the ad-statistics columns of `channels.csv` (spend, impressions, clicks
  by date, platform, campaign and contractor).

Lead, attendee, application, sale and revenue columns of `channels.csv`
need identity resolution and attribution; they are not recomputed here and
not compared.

Then it compares both with voronka's `marts/cash.csv` and
`marts/channels.csv` value by value (exact decimals; a key missing on one
side counts as zeros) and prints the timings and the ratio
voronka aggregate / DuckDB last. Exit status 1 on any mismatch.
"""

import argparse
import csv
import datetime as dt
import json
import os
import sys
import time
import tomllib
from decimal import Decimal

import duckdb

NO_CONTRACTOR = "(без подрядчика)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", required=True, help="the bench --out folder")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    lake = os.path.abspath(args.lake)
    meta = json.load(open(os.path.join(lake, "bench.json")))
    config = tomllib.load(open(os.path.join(lake, "voronka.toml"), "rb"))
    as_of = dt.date.fromisoformat(meta["end"])
    if config.get("timezone") != "Europe/Moscow":
        sys.exit("this reference assumes Europe/Moscow (UTC+3 all year since 2014)")
    # End of as_of in Moscow, as UTC.
    end_utc = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()) - dt.timedelta(hours=3)

    con = duckdb.connect()
    con.execute(f"SET threads={args.threads}")
    con.execute("SET preserve_insertion_order=false")

    mult_rows, contractor_rows, prefix_rows = [], [], []
    for slug, src in config.get("sources", {}).items():
        for a in src.get("accounts", []):
            mult_rows.append((slug, a["id"], str(a.get("spend_multiplier", "1"))))
    for c in config.get("contractors", []):
        if "account" in c:
            contractor_rows.append((c["account"].strip(), c["contractor"]))
        elif "campaign_prefix" in c:
            prefix_rows.append((c["campaign_prefix"].strip().lower(), c["contractor"]))

    n = lambda entity: os.path.join(lake, "normalized", entity, "*", "*", "*.jsonl")
    t0 = time.perf_counter()
    con.execute("CREATE TEMP TABLE mult(source VARCHAR, account VARCHAR, m DECIMAL(10,4))")
    con.executemany("INSERT INTO mult VALUES (?, ?, ?)", mult_rows)
    con.execute("CREATE TEMP TABLE acc_rule(acc VARCHAR, contractor VARCHAR)")
    if contractor_rows:
        con.executemany("INSERT INTO acc_rule VALUES (?, ?)", contractor_rows)
    con.execute("CREATE TEMP TABLE prefix_rule(prefix VARCHAR, contractor VARCHAR, pos INTEGER)")
    for i, (p, c) in enumerate(prefix_rows):
        con.execute("INSERT INTO prefix_rule VALUES (?, ?, ?)", (p, c, i))
    con.execute(f"""
        CREATE TEMP TABLE rates AS
        SELECT upper(currency) AS cur, CAST(date AS DATE) AS d,
               CASE WHEN nominal = 1 THEN CAST(value AS DECIMAL(20,10))
                    ELSE CAST(CAST(value AS DECIMAL(20,10)) / nominal AS DECIMAL(20,10)) END AS rate
        FROM read_json('{n("rate")}', format='newline_delimited',
             columns={{currency: 'VARCHAR', date: 'VARCHAR', nominal: 'INTEGER', value: 'VARCHAR'}})""")
    con.execute(f"""
        CREATE TEMP TABLE ad AS
        SELECT source, account, CAST(date AS DATE) AS date, platform, campaign_id,
               coalesce(campaign_name, '') AS campaign_name, impressions, clicks,
               CAST(spend AS DECIMAL(30,8)) AS spend, upper(currency) AS cur
        FROM read_json('{n("ad_stat")}', format='newline_delimited',
             columns={{source: 'VARCHAR', account: 'VARCHAR', date: 'VARCHAR', platform: 'VARCHAR',
                      campaign_id: 'VARCHAR', campaign_name: 'VARCHAR', impressions: 'BIGINT',
                      clicks: 'BIGINT', spend: 'VARCHAR', currency: 'VARCHAR'}})""")
    con.execute(f"""
        CREATE TEMP TABLE pay AS
        SELECT source, account, id, order_number,
               CAST(replace(paid_at, 'Z', '') AS TIMESTAMP) AS paid_at,
               CAST(amount AS DECIMAL(30,8)) AS amount, upper(currency) AS cur, status
        FROM read_json('{n("payment")}', format='newline_delimited',
             columns={{source: 'VARCHAR', account: 'VARCHAR', id: 'VARCHAR', order_number: 'VARCHAR',
                      paid_at: 'VARCHAR', amount: 'VARCHAR', currency: 'VARCHAR', status: 'VARCHAR'}})""")
    con.execute(f"""
        CREATE TEMP TABLE ord AS
        SELECT source, account, number, CAST(cost AS DECIMAL(30,8)) AS cost
        FROM read_json('{n("order")}', format='newline_delimited',
             columns={{source: 'VARCHAR', account: 'VARCHAR', number: 'VARCHAR', cost: 'VARCHAR'}})""")
    t_load = time.perf_counter() - t0

    t1 = time.perf_counter()
    # Spend in roubles per ad-stats row, with its channel key.
    con.execute(f"""
        CREATE TEMP TABLE spend AS
        WITH s AS (
            SELECT ad.*, coalesce(mult.m, 1) AS m,
                   CASE WHEN trim(campaign_name) = '' THEN trim(campaign_id)
                        ELSE trim(campaign_name) END AS label
            FROM ad LEFT JOIN mult USING (source, account)
            WHERE date <= DATE '{as_of}'
        ), conv AS (
            SELECT s.*, CASE WHEN s.cur IN ('RUB', 'RUR') THEN CAST(1 AS DECIMAL(20,10))
                             ELSE r.rate END AS rate
            FROM s ASOF LEFT JOIN rates r ON s.cur = r.cur AND s.date >= r.d
        )
        SELECT date, platform, label AS campaign,
               coalesce(
                 (SELECT contractor FROM acc_rule WHERE acc = conv.source || ':' || conv.account LIMIT 1),
                 (SELECT contractor FROM prefix_rule WHERE starts_with(lower(conv.label), prefix)
                  ORDER BY pos LIMIT 1),
                 '{NO_CONTRACTOR}') AS contractor,
               spend * m * rate AS rub, impressions, clicks
        FROM conv WHERE rate IS NOT NULL""")
    channels = con.execute("""
        SELECT date, platform, campaign, contractor, sum(rub), sum(impressions), sum(clicks)
        FROM spend GROUP BY ALL""").fetchall()
    # Money: received and refunded payments to the end of as_of, in time
    # order; prepayment / surcharge flags per matched order.
    cash = con.execute(f"""
        WITH p AS (
            SELECT pay.*, CASE WHEN status = 'refunded' THEN -abs(amount) ELSE amount END AS signed,
                   CAST(paid_at + INTERVAL 3 HOUR AS DATE) AS date
            FROM pay
            WHERE paid_at < TIMESTAMP '{end_utc}' AND status IN ('received', 'refunded')
        ), conv AS (
            SELECT p.*, CASE WHEN p.cur IN ('RUB', 'RUR') THEN CAST(1 AS DECIMAL(20,10))
                             ELSE r.rate END AS rate
            FROM p ASOF LEFT JOIN rates r ON p.cur = r.cur AND p.date >= r.d
        ), m AS (
            SELECT conv.*, signed * rate AS rub, o.cost, o.number IS NOT NULL AS matched
            FROM conv LEFT JOIN ord o
              ON o.source = conv.source AND o.account = conv.account AND o.number = conv.order_number
            WHERE rate IS NOT NULL
        ), w AS (
            SELECT m.*,
                   sum(signed) OVER (win ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS paid_so_far,
                   coalesce(count(*) FILTER (WHERE signed > 0)
                            OVER (win ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS earlier_positive
            FROM m
            WINDOW win AS (PARTITION BY source, account, order_number ORDER BY paid_at, source, account, id)
        ), money AS (
            SELECT date, sum(rub) AS revenue,
                   sum(rub) FILTER (WHERE matched AND signed > 0 AND paid_so_far < cost) AS prepayments,
                   sum(rub) FILTER (WHERE matched AND signed > 0 AND earlier_positive > 0) AS surcharges,
                   sum(rub) FILTER (WHERE signed < 0) AS refunds
            FROM w GROUP BY date
        ), sp AS (SELECT date, sum(rub) AS spend FROM spend GROUP BY date),
        days AS (
            SELECT CAST(unnest(generate_series(
                (SELECT min(date) FROM (SELECT date FROM money UNION ALL SELECT date FROM sp)),
                DATE '{as_of}', INTERVAL 1 DAY)) AS DATE) AS date
        )
        SELECT days.date, coalesce(revenue, 0), coalesce(prepayments, 0), coalesce(surcharges, 0),
               coalesce(refunds, 0), coalesce(spend, 0)
        FROM days LEFT JOIN money USING (date) LEFT JOIN sp USING (date)
        ORDER BY days.date""").fetchall()
    t_query = time.perf_counter() - t1
    t_total = time.perf_counter() - t0

    def kop(x):
        # Half away from zero, like voronka's round_kopecks.
        from decimal import ROUND_HALF_UP
        return Decimal(x).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    out = os.path.join(lake, "duckdb")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "cash.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["date", "revenue", "prepayments", "surcharges", "refunds", "spend"])
        for r in cash:
            w.writerow([r[0]] + [f"{kop(v):.2f}" for v in r[1:]])
    with open(os.path.join(out, "channels_spend.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["date", "platform", "campaign", "contractor", "spend", "impressions", "clicks"])
        for r in sorted(channels):
            w.writerow([r[0], r[1], r[2], r[3], f"{kop(r[4]):.2f}", r[5], r[6]])

    # --- Compare with voronka's marts.
    mismatches = []
    z = Decimal("0.00")
    v_cash = {}
    with open(os.path.join(lake, "marts", "cash.csv")) as f:
        for r in csv.DictReader(f):
            v_cash[r["date"]] = tuple(Decimal(r[k]) for k in ("revenue", "prepayments", "surcharges", "refunds", "spend"))
    d_cash = {str(r[0]): tuple(kop(v) for v in r[1:]) for r in cash}
    for d in sorted(set(v_cash) | set(d_cash)):
        a, b = v_cash.get(d, (z,) * 5), d_cash.get(d, (z,) * 5)
        if a != b:
            mismatches.append(f"cash.csv {d}: voronka {a} duckdb {b}")
    v_ch = {}
    with open(os.path.join(lake, "marts", "channels.csv")) as f:
        for r in csv.DictReader(f):
            k = (r["date"], r["platform"], r["campaign"], r["contractor"])
            v = (Decimal(r["spend"]), int(r["impressions"]), int(r["clicks"]))
            if v != (z, 0, 0):
                v_ch[k] = v
    d_ch = {}
    for r in channels:
        v = (kop(r[4]), int(r[5]), int(r[6]))
        if v != (z, 0, 0):
            d_ch[(str(r[0]), r[1], r[2], r[3])] = v
    for k in sorted(set(v_ch) | set(d_ch)):
        a, b = v_ch.get(k, (z, 0, 0)), d_ch.get(k, (z, 0, 0))
        if a != b:
            mismatches.append(f"channels.csv {k}: voronka {a} duckdb {b}")

    report = json.load(open(os.path.join(lake, "bench-report.json")))
    fig = {f["name"]: f["value"] for f in report["figures"]}
    v_agg = fig.get("aggregate alone: wall time")
    print()
    print(f"DuckDB {duckdb.__version__}, threads={args.threads}")
    print(f"  rows: ad_stat {con.execute('SELECT count(*) FROM ad').fetchone()[0]}, "
          f"payment {con.execute('SELECT count(*) FROM pay').fetchone()[0]}, "
          f"order {con.execute('SELECT count(*) FROM ord').fetchone()[0]}, "
          f"rate {con.execute('SELECT count(*) FROM rates').fetchone()[0]}")
    print(f"  DuckDB read JSON lines          {t_load:10.3f} s")
    print(f"  DuckDB queries (cash, channels) {t_query:10.3f} s")
    print(f"  DuckDB total                    {t_total:10.3f} s")
    print(f"  compared: cash.csv {len(set(v_cash) | set(d_cash))} days x 5 columns; "
          f"channels.csv spend/impressions/clicks of {len(set(v_ch) | set(d_ch))} (date, channel) keys")
    if mismatches:
        print(f"  MISMATCH: {len(mismatches)} differences, first ones:")
        for m in mismatches[:20]:
            print("   ", m)
    else:
        print("  outputs match: cash.csv (all columns) and channels.csv (spend, impressions, clicks)")
    with open(os.path.join(lake, "duckdb", "timings.json"), "w") as f:
        json.dump({"load": t_load, "query": t_query, "total": t_total,
                   "mismatches": len(mismatches), "version": duckdb.__version__}, f, indent=2)
    if v_agg:
        print(f"  voronka aggregate (all marts, one thread) {v_agg:10.3f} s")
        print(f"ratio voronka aggregate / DuckDB = {v_agg / t_total:.2f}")
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
